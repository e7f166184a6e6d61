/*
 * util.c - capped buffers, clocks, bounded copies, token redaction and
 * duration parsing/formatting. See util.h.
 */
#include "bot/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int buf_reserve(struct buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (need > b->max)
		return -1;
	if (need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len || buf_reserve(b, b->len + n) != 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > b->max - b->len ||
	    buf_reserve(b, b->len + (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

void clock_read(struct clock *c)
{
	c->now = clock_mono_ms();
	c->wall = clock_wall_ms();
}

int64_t clock_wall_to_mono(const struct clock *c, int64_t wall)
{
	return c->now + (wall - c->wall);
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

size_t str_copy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

static int is_secret_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-';
}

void redact_token(char *s)
{
	char *p = s;

	while ((p = strstr(p, "bot")) != NULL) {
		char *d = p + 3, *colon, *end;

		while (isdigit((unsigned char)*d))
			d++;
		if (d == p + 3 || *d != ':') {
			p += 3;
			continue;
		}
		colon = d;
		end = colon + 1;
		while (is_secret_char((unsigned char)*end))
			end++;
		if (end - colon - 1 < 3) { /* too short to be a secret */
			p = end;
			continue;
		}
		memcpy(colon + 1, "***", 3);
		memmove(colon + 4, end, strlen(end) + 1);
		p = colon + 4;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Length of the text at s that spells want (n bytes), each byte either as
 * itself or percent-encoded (%HH, any case); 0 if it does not. */
static size_t match_encoded(const char *s, const char *want, size_t n)
{
	const char *p = s;
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (*p == want[i]) {
			p++;
			continue;
		}
		if (*p != '%' || (hi = hexval((unsigned char)p[1])) < 0 ||
		    (lo = hexval((unsigned char)p[2])) < 0 ||
		    hi * 16 + lo != (unsigned char)want[i])
			return 0;
		p += 3;
	}
	return (size_t)(p - s);
}

void redact_secret(char *s, const char *secret)
{
	const char *colon;
	size_t n, m;
	char *p;

	if (s == NULL || secret == NULL)
		return;
	/* The secret part is in every form of the token: scrubbing it
	 * scrubs them all, and the bot id alone gives nothing away. */
	colon = strchr(secret, ':');
	if (colon != NULL)
		secret = colon + 1;
	n = strlen(secret);
	if (n < 4)
		return;
	for (p = s; *p != '\0'; p++) {
		if (*p != secret[0] && *p != '%')
			continue;
		if ((m = match_encoded(p, secret, n)) == 0)
			continue;
		memcpy(p, "***", 3);
		memmove(p + 3, p + m, strlen(p + m) + 1);
		p += 2;
	}
}

static char registered[256];

void redact_set_secret(const char *secret)
{
	/* volatile: the wipe of the old copy must not be optimised out */
	volatile char *v = registered;
	size_t i;

	for (i = 0; i < sizeof(registered); i++)
		v[i] = '\0';
	if (secret != NULL)
		str_copy(registered, secret, sizeof(registered));
}

void redact_all(char *s)
{
	if (s == NULL)
		return;
	redact_token(s);
	redact_secret(s, registered);
}

/* fmt is checked at every call site (ATTR_STRFTIME in util.h); gcc still
 * warns about passing it on, so only here the warning is off. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void fmt_clock(char *dst, size_t size, int64_t wall_ms, const char *fmt)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(dst, size, fmt, &tm) == 0)
		str_copy(dst, "?", size);
}
#pragma GCC diagnostic pop

void fmt_duration(char *dst, size_t size, int64_t ms)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(dst, size, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(dst, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(dst, size, "%lldm%02llds", (long long)(s / 60),
			 (long long)(s % 60));
	else if (s < 86400)
		snprintf(dst, size, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(dst, size, "%lldd%lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
}

int64_t parse_duration(const char *s)
{
	int64_t total = 0;
	int any = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*s) {
		int64_t v = 0, mult;
		int digits = 0;

		while (isdigit((unsigned char)*s)) {
			if (v > 100000000)
				return -1;
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (!digits)
			return -1;
		switch (*s) {
		case 's': mult = 1000; s++; break;
		case 'm': mult = 60000; s++; break;
		case 'h': mult = 3600000; s++; break;
		case 'd': mult = 86400000; s++; break;
		case 'w': mult = 7 * 86400000LL; s++; break;
		case '\0': mult = any ? -1 : 1000; break;
		default: return -1;
		}
		if (mult < 0)
			return -1;
		total += v * mult;
		any = 1;
		if (total > 366LL * 86400000)
			return -1;
	}
	return total > 0 ? total : -1;
}
