/*
 * tz.c - named time zones from TZif files, without TZ or tzset. See tz.h.
 *
 * A TZif file lists transitions (UTC instants) and, for each, the local
 * time type that starts there (offset, DST flag, abbreviation); version
 * 2+ files repeat the data with 64-bit times and end with a POSIX TZ
 * string ("CET-1CEST,M3.5.0,M10.5.0/3") for instants after the last
 * transition, which is how "slim" files describe the present. Both are
 * read here; leap-second records are skipped (opsbot's clocks are POSIX).
 */
#include "bot/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TZ_FILE_MAX (256 * 1024)
#define TZ_ABBR_MAX 16
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

struct tz_type {
	int32_t off;
	char abbr[TZ_ABBR_MAX];
};

/* One end of daylight time in a POSIX rule: Jn, n or Mm.w.d, at secs
 * local time. */
struct tz_date {
	char kind;      /* 'J', 'D' (zero-based day), 'M' */
	int a, b, c;    /* J/D: day; M: month, week, weekday */
	int32_t secs;
};

struct tz_rule {
	int ok;
	int has_dst;
	struct tz_type std, dst;
	struct tz_date start, end;
};

struct tz {
	int64_t *trans;
	uint8_t *idx;
	size_t ntrans;
	struct tz_type *types;
	size_t ntypes;
	struct tz_rule rule;
};

/* --- calendar --- */

static int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int tz_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int tz_month_days(int64_t y, int m)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				    30, 31 };

	return m == 2 && tz_is_leap(y) ? 29 : md[m - 1];
}

static int64_t tz_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Year of the day number (days since 1970-01-01). */
static int64_t tz_year_of(int64_t days)
{
	int64_t y = 1970 + tz_floor_div(days * 400, 146097);

	while (tz_days_from_civil(y, 1, 1) > days)
		y--;
	while (tz_days_from_civil(y + 1, 1, 1) <= days)
		y++;
	return y;
}

/* Day number of a rule date in year y. */
static int64_t tz_rule_day(const struct tz_date *d, int64_t y)
{
	int64_t first;
	int wd, day;

	switch (d->kind) {
	case 'J': /* 1..365, February 29 never counted */
		return tz_days_from_civil(y, 1, 1) + d->a - 1 +
		       (tz_is_leap(y) && d->a >= 60);
	case 'D':
		return tz_days_from_civil(y, 1, 1) + d->a;
	default:
		first = tz_days_from_civil(y, d->a, 1);
		wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01: Thursday */
		day = 1 + (d->c - wd + 7) % 7 + (d->b - 1) * 7;
		while (day > tz_month_days(y, d->a))
			day -= 7;
		return first + day - 1;
	}
}

/* --- POSIX TZ strings (the TZif footer) --- */

static const char *tz_parse_abbr(const char *s, char *out)
{
	size_t n = 0;

	if (*s == '<') {
		for (s++; *s && *s != '>'; s++)
			if (n + 1 < TZ_ABBR_MAX)
				out[n++] = *s;
		if (*s != '>')
			return NULL;
		s++;
	} else {
		for (; (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z');
		     s++)
			if (n + 1 < TZ_ABBR_MAX)
				out[n++] = *s;
	}
	out[n] = '\0';
	return n >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds (hours up to 167, as RFC 8536 allows). */
static const char *tz_parse_hms(const char *s, int32_t *secs)
{
	int sign = 1, h = 0, m = 0, sec = 0, digits = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	while (*s >= '0' && *s <= '9' && digits < 3)
		h = h * 10 + (*s++ - '0'), digits++;
	if (digits == 0 || h > 167)
		return NULL;
	if (*s == ':') {
		s++;
		if (s[0] < '0' || s[0] > '5' || s[1] < '0' || s[1] > '9')
			return NULL;
		m = (s[0] - '0') * 10 + (s[1] - '0');
		s += 2;
		if (*s == ':') {
			s++;
			if (s[0] < '0' || s[0] > '5' || s[1] < '0' ||
			    s[1] > '9')
				return NULL;
			sec = (s[0] - '0') * 10 + (s[1] - '0');
			s += 2;
		}
	}
	*secs = sign * (h * 3600 + m * 60 + sec);
	return s;
}

static const char *tz_parse_num(const char *s, int lo, int hi, int *v)
{
	int n = 0, digits = 0;

	while (*s >= '0' && *s <= '9' && digits < 4)
		n = n * 10 + (*s++ - '0'), digits++;
	if (digits == 0 || n < lo || n > hi)
		return NULL;
	*v = n;
	return s;
}

static const char *tz_parse_date(const char *s, struct tz_date *d)
{
	d->secs = 7200; /* 02:00 unless said */
	if (*s == 'J') {
		d->kind = 'J';
		s = tz_parse_num(s + 1, 1, 365, &d->a);
	} else if (*s == 'M') {
		d->kind = 'M';
		if ((s = tz_parse_num(s + 1, 1, 12, &d->a)) == NULL ||
		    *s++ != '.' || (s = tz_parse_num(s, 1, 5, &d->b)) == NULL ||
		    *s++ != '.')
			return NULL;
		s = tz_parse_num(s, 0, 6, &d->c);
	} else {
		d->kind = 'D';
		s = tz_parse_num(s, 0, 365, &d->a);
	}
	if (s != NULL && *s == '/')
		s = tz_parse_hms(s + 1, &d->secs);
	return s;
}

/* Parses a POSIX TZ string; 0 or -1. Offsets there are west of UTC. */
static int tz_parse_rule(const char *s, struct tz_rule *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if ((s = tz_parse_abbr(s, r->std.abbr)) == NULL ||
	    (s = tz_parse_hms(s, &off)) == NULL)
		return -1;
	r->std.off = -off;
	if (*s == '\0') {
		r->ok = 1;
		return 0;
	}
	if ((s = tz_parse_abbr(s, r->dst.abbr)) == NULL)
		return -1;
	r->dst.off = r->std.off + 3600;
	if (*s != ',' && *s != '\0') {
		if ((s = tz_parse_hms(s, &off)) == NULL)
			return -1;
		r->dst.off = -off;
	}
	if (*s != ',' || (s = tz_parse_date(s + 1, &r->start)) == NULL ||
	    *s != ',' || (s = tz_parse_date(s + 1, &r->end)) == NULL ||
	    *s != '\0')
		return -1;
	r->has_dst = 1;
	r->ok = 1;
	return 0;
}

static const struct tz_type *tz_rule_type(const struct tz_rule *r, int64_t t)
{
	int64_t y, start, end;

	if (!r->has_dst)
		return &r->std;
	y = tz_year_of(tz_floor_div(t + r->std.off, 86400));
	/* start is given in standard time, end in daylight time */
	start = tz_rule_day(&r->start, y) * 86400 + r->start.secs - r->std.off;
	end = tz_rule_day(&r->end, y) * 86400 + r->end.secs - r->dst.off;
	if (start < end)
		return t >= start && t < end ? &r->dst : &r->std;
	return t >= end && t < start ? &r->std : &r->dst;
}

/* --- TZif --- */

static uint32_t tz_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static int tz_read_counts(const unsigned char *p, size_t n,
		       struct tzif_counts *c)
{
	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return -1;
	c->isut = tz_be32(p + 20);
	c->isstd = tz_be32(p + 24);
	c->leap = tz_be32(p + 28);
	c->time = tz_be32(p + 32);
	c->type = tz_be32(p + 36);
	c->chars = tz_be32(p + 40);
	if (c->type == 0 || c->type > 256 || c->time > 100000 ||
	    c->chars > 4096 || c->leap > 10000 || c->isut > c->type ||
	    c->isstd > c->type)
		return -1;
	return 0;
}

static size_t tz_block_len(const struct tzif_counts *c, size_t tsize)
{
	return c->time * tsize + c->time + c->type * 6 + c->chars +
	       c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Reads the data block at p (times of tsize bytes) into z. */
static int tz_read_block(struct tz *z, const unsigned char *p,
		      const struct tzif_counts *c, size_t tsize)
{
	const unsigned char *ix = p + c->time * tsize, *ty = ix + c->time;
	const unsigned char *ch = ty + c->type * 6;

	z->trans = calloc(c->time ? c->time : 1, sizeof(*z->trans));
	z->idx = calloc(c->time ? c->time : 1, 1);
	z->types = calloc(c->type, sizeof(*z->types));
	if (z->trans == NULL || z->idx == NULL || z->types == NULL)
		return -1;
	for (uint32_t i = 0; i < c->time; i++) {
		z->trans[i] = tsize == 8 ? tz_be64(p + 8 * i) :
			      (int64_t)(int32_t)tz_be32(p + 4 * i);
		if (ix[i] >= c->type || (i > 0 && z->trans[i] <= z->trans[i - 1]))
			return -1;
		z->idx[i] = ix[i];
	}
	for (uint32_t i = 0; i < c->type; i++) {
		uint8_t ai = ty[6 * i + 5];
		size_t n = 0;

		z->types[i].off = (int32_t)tz_be32(ty + 6 * i);
		if (ai >= c->chars)
			return -1;
		while (ai + n < c->chars && ch[ai + n] && n + 1 < TZ_ABBR_MAX)
			n++;
		memcpy(z->types[i].abbr, ch + ai, n);
		z->types[i].abbr[n] = '\0';
	}
	z->ntrans = c->time;
	z->ntypes = c->type;
	return 0;
}

static int tz_parse_tzif(struct tz *z, const unsigned char *p, size_t n)
{
	struct tzif_counts c;
	size_t len, off;
	const char *foot, *end;
	char rule[128];

	if (tz_read_counts(p, n, &c) != 0)
		return -1;
	len = 44 + tz_block_len(&c, 4);
	if (len > n)
		return -1;
	if (p[4] < '2') /* version 1: 32-bit data only */
		return tz_read_block(z, p + 44, &c, 4);
	off = len;
	if (tz_read_counts(p + off, n - off, &c) != 0 ||
	    off + 44 + tz_block_len(&c, 8) > n)
		return -1;
	if (tz_read_block(z, p + off + 44, &c, 8) != 0)
		return -1;
	off += 44 + tz_block_len(&c, 8);
	/* footer: "\n" POSIX-TZ "\n", possibly empty */
	if (off < n && p[off] == '\n') {
		foot = (const char *)p + off + 1;
		end = memchr(foot, '\n', n - off - 1);
		if (end != NULL && end > foot &&
		    (size_t)(end - foot) < sizeof(rule)) {
			memcpy(rule, foot, (size_t)(end - foot));
			rule[end - foot] = '\0';
			if (tz_parse_rule(rule, &z->rule) != 0)
				return -1;
		}
	}
	return 0;
}

static int tz_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= TZ_NAME_MAX || name[0] == '/' ||
	    strstr(name, "..") != NULL || name[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		      ch == '+' || ch == '.' || ch == '/'))
			return 0;
	}
	return 1;
}

static int tz_read_file(const char *path, unsigned char **buf, size_t *len)
{
	struct stat sb;
	ssize_t r;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > TZ_FILE_MAX || sb.st_size < 44 ||
	    (*buf = malloc((size_t)sb.st_size)) == NULL) {
		close(fd);
		errno = S_ISREG(sb.st_mode) ? EFBIG : EISDIR;
		return -1;
	}
	while (got < (size_t)sb.st_size &&
	       (r = read(fd, *buf + got, (size_t)sb.st_size - got)) > 0)
		got += (size_t)r;
	close(fd);
	*len = got;
	return 0;
}

static int tz_is_utc(const char *name)
{
	return strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 ||
	       strcmp(name, "GMT") == 0 || strcmp(name, "Etc/GMT") == 0;
}

/* Zone z becomes plain UTC. */
static void tz_set_utc(struct tz *z)
{
	snprintf(z->rule.std.abbr, TZ_ABBR_MAX, "UTC");
	z->rule.ok = 1;
}

int tz_load(struct tz **out, const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	unsigned char *buf = NULL;
	size_t len = 0;
	struct tz *z;
	int rc;

	*out = NULL;
	if (!tz_name_ok(name)) {
		snprintf(err, errlen, "\"%.*s\" is not a time zone name (e.g."
			 " \"UTC\", \"Europe/Berlin\")", TZ_NAME_MAX, name);
		return -1;
	}
	if (dir == NULL || dir[0] == '\0')
		dir = TZ_DEFAULT_DIR;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (tz_read_file(path, &buf, &len) != 0 && !tz_is_utc(name)) {
		snprintf(err, errlen, "unknown time zone \"%s\" (%s: %s)", name,
			 path, strerror(errno));
		return -1;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = buf != NULL ? tz_parse_tzif(z, buf, len) : -1;
	free(buf);
	if (rc != 0) {
		/* UTC needs no tz database, nor a sound file */
		if (!tz_is_utc(name)) {
			tz_free(z);
			snprintf(err, errlen, "time zone \"%s\": %s is not a "
				 "valid TZif file", name, path);
			return -1;
		}
		free(z->trans);
		free(z->idx);
		free(z->types);
		memset(z, 0, sizeof(*z));
		tz_set_utc(z);
	}
	*out = z;
	return 0;
}

void tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->trans);
	free(z->idx);
	free(z->types);
	free(z);
}

int32_t tz_offset(const struct tz *z, int64_t t, const char **abbr)
{
	const struct tz_type *ty;
	size_t lo, hi;

	if (z == NULL) {
		if (abbr)
			*abbr = "UTC";
		return 0;
	}
	if (z->ntrans > 0 && t >= z->trans[z->ntrans - 1] && z->rule.ok) {
		ty = tz_rule_type(&z->rule, t);
	} else if (z->ntrans == 0 || t < z->trans[0]) {
		ty = z->ntypes > 0 ? &z->types[0] : &z->rule.std;
		if (z->ntrans == 0 && z->rule.ok)
			ty = tz_rule_type(&z->rule, t);
	} else {
		/* the last transition at or before t */
		lo = 0;
		hi = z->ntrans;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;

			if (z->trans[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		ty = &z->types[z->idx[lo]];
	}
	if (abbr)
		*abbr = ty->abbr;
	return ty->off;
}

void tz_format(const struct tz *z, char *dst, size_t size, int64_t wall_ms,
	       const char *fmt)
{
	int64_t t = tz_floor_div(wall_ms, 1000);
	const char *abbr;
	time_t local = (time_t)(t + tz_offset(z, t, &abbr));
	struct tm tm;

	if (gmtime_r(&local, &tm) == NULL) {
		snprintf(dst, size, "?");
		return;
	}
	/* glibc's %Z prints tm_zone */
	tm.tm_zone = abbr;
	tm.tm_isdst = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(dst, size, fmt, &tm) == 0)
		snprintf(dst, size, "?");
#pragma GCC diagnostic pop
}
