/*
 * alert.c - parser and validator for one NDJSON alert line of the socket
 * protocol (see alert.h and SOCKET PROTOCOL in docs/opsbot.8), and the
 * same checks for the HTTP intake: a whole body (alert_json_parse) and
 * one alert object in it (alert_from_json).
 *
 * The work per line is linear: one strict UTF-8 scan of the raw bytes, one
 * scan of the backslash escapes, one cJSON parse, one walk over the top
 * level members. Error messages are "<field>: <what is wrong>" and go to
 * the client verbatim, so they only echo user data that is short and
 * printable. Byte positions in messages are 0-based offsets into the line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "alerts/alert.h"
#include "bot/url.h"
#include "bot/utf8.h"
#include "bot/util.h"

/* Longest piece of a user-supplied value echoed in an error message. */
#define QUOTE_MAX 32

/*
 * cJSON decodes "\u0000" into a NUL that silently cuts the C string, so the
 * NUL could never be seen afterwards. When a line has such an escape, the
 * parser reads a copy in which each "\u0000" is overwritten with six 0xFF
 * bytes: 0xFF never occurs in valid UTF-8 (the raw line was checked) nor in
 * cJSON's decoding of an escape, so finding it in a string means "NUL".
 */
#define NUL_MARK ALERT_NUL_MARK

enum field {
	F_SEVERITY, F_SOURCE, F_TITLE, F_TEXT, F_KEY, F_STATUS, F_LABELS,
	F_URL, F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"severity", "source", "title", "text", "key", "status", "labels", "url"
};

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* The value of the "\uXXXX" at p (6 bytes available), or -1. */
static long escape_value(const char *p)
{
	long v = 0;

	if (p[0] != '\\' || p[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		if (!is_hex(p[i]))
			return -1;
		v = v * 16 + (p[i] <= '9' ? p[i] - '0' :
		    (p[i] | 0x20) - 'a' + 10);
	}
	return v;
}

/*
 * Checks every backslash escape of the raw line before cJSON sees it:
 * cJSON reads a bad "\uXXXX" as a NUL instead of failing, and surrogate
 * handling differs between its versions. Returns -1 with err filled, 1 if
 * a "\u0000" is present (see NUL_MARK), 0 otherwise. Walking from one
 * backslash to the next escape keeps "\\u0000" (a backslash, then text)
 * apart from a real escape; backslashes outside strings are invalid JSON
 * that cJSON rejects anyway.
 */
static int scan_escapes(const char *s, size_t n, const char *what,
    char *err, size_t errlen)
{
	const char *p = s, *end = s + n;
	int nul = 0;
	long v, w;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p < 2)
			return nul;	/* cJSON reports the cut string */
		if (p[1] != 'u') {
			p += 2;
			continue;
		}
		if (end - p < 6 || (v = escape_value(p)) < 0)
			return err_set(err, errlen,
			    "%s: invalid \\u escape at byte %zu", what,
			    (size_t)(p - s));
		if (v >= 0xDC00 && v <= 0xDFFF)
			return err_set(err, errlen, "%s: unpaired UTF-16 "
			    "surrogate escape at byte %zu", what,
			    (size_t)(p - s));
		if (v >= 0xD800 && v <= 0xDBFF) {
			w = end - p >= 12 ? escape_value(p + 6) : -1;
			if (w < 0xDC00 || w > 0xDFFF)
				return err_set(err, errlen, "%s: unpaired "
				    "UTF-16 surrogate escape at byte %zu",
				    what, (size_t)(p - s));
			p += 12;
			continue;
		}
		if (v == 0)
			nul = 1;
		p += 6;
	}
	return nul;
}

/* A copy of s in which every "\u0000" escape is replaced by NUL_MARK
 * bytes; the same escape walk as scan_escapes(), which validated it. */
static char *mark_nuls(const char *s, size_t n)
{
	char *copy, *p, *end;

	if ((copy = malloc(n)) == NULL)
		return NULL;
	memcpy(copy, s, n);
	end = copy + n;
	p = copy;
	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p < 2)
			break;
		if (p[1] != 'u') {
			p += 2;
			continue;
		}
		if (memcmp(p + 2, "0000", 4) == 0)
			memset(p, NUL_MARK, 6);
		p += 6;
	}
	return copy;
}

/*
 * Writes ` "v"` into buf when v is fit to echo in an error message: valid
 * UTF-8 without control characters, quotes or backslashes, cut to
 * QUOTE_MAX bytes (then ending in "..."). Otherwise buf is "".
 */
static const char *quoted(char *buf, size_t size, const char *v)
{
	size_t n = strlen(v), cut = n;

	buf[0] = '\0';
	if (cut > QUOTE_MAX) {
		cut = QUOTE_MAX;
		/* Never split a character. */
		while (cut > 0 && ((unsigned char)v[cut] & 0xC0) == 0x80)
			cut--;
	}
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7F || c == '"' || c == '\\')
			return buf;
	}
	if (!utf8_valid(v, cut))
		return buf;
	snprintf(buf, size, " \"%.*s%s\"", (int)cut, v,
	    cut < n ? "..." : "");
	return buf;
}

/* Checks that a decoded string holds no NUL, is valid UTF-8 and is at
 * most max bytes; what names it in the message. */
static int check_string(const char *what, const char *v, size_t len,
    size_t max, int marked, char *err, size_t errlen)
{
	if (marked && memchr(v, NUL_MARK, len) != NULL)
		return err_set(err, errlen, "%s: contains a NUL character", what);
	/* The raw line was valid UTF-8; this guards against escapes that a
	 * cJSON version decodes into something that is not. */
	if (!utf8_valid(v, len))
		return err_set(err, errlen, "%s: invalid UTF-8", what);
	if (len > max)
		return err_set(err, errlen, "%s: longer than %zu bytes", what,
		    max);
	return 0;
}

/*
 * Gets the string member f: *v stays NULL when it is absent or null. Type,
 * NUL, UTF-8 and the limit are checked here; meaning is the caller's.
 */
static int get_string(const cJSON *item, enum field f, size_t max,
    int marked, const char **v, size_t *len, char *err, size_t errlen)
{
	*v = NULL;
	*len = 0;
	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return err_set(err, errlen, "%s: expected a string",
		    field_names[f]);
	*len = strlen(item->valuestring);
	if (check_string(field_names[f], item->valuestring, *len, max,
	    marked, err, errlen) != 0)
		return -1;
	*v = item->valuestring;
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Copies string member f into *dst (left NULL when absent). An empty
 * value counts as absent when empty_absent is set. */
static int take_string(const cJSON *item, enum field f, size_t max,
    int empty_absent, int marked, char **dst, char *err, size_t errlen)
{
	const char *v;
	size_t len;

	if (get_string(item, f, max, marked, &v, &len, err, errlen) != 0)
		return -1;
	if (v == NULL || (len == 0 && empty_absent))
		return 0;
	if ((*dst = dup_n(v, len)) == NULL)
		return err_set(err, errlen, "%s: out of memory", field_names[f]);
	return 0;
}

static int parse_severity(const cJSON *item, int marked, struct alert *a,
    char *err, size_t errlen)
{
	char q[QUOTE_MAX + 8];
	const char *v;
	size_t len;
	int s;

	if (get_string(item, F_SEVERITY, SIZE_MAX, marked, &v, &len, err,
	    errlen) != 0)
		return -1;
	if (v == NULL)
		return 0;
	if ((s = severity_parse(v)) < 0)
		return err_set(err, errlen, "severity: unknown value%s (expected "
		    "critical, error, warning, info, debug)",
		    quoted(q, sizeof(q), v));
	a->severity = (enum severity)s;
	return 0;
}

static int parse_status(const cJSON *item, int marked, struct alert *a,
    char *err, size_t errlen)
{
	char q[QUOTE_MAX + 8];
	const char *v;
	size_t len;

	if (get_string(item, F_STATUS, SIZE_MAX, marked, &v, &len, err,
	    errlen) != 0)
		return -1;
	if (v == NULL)
		return 0;
	/* Any case, like severity: clients should not fail on "Resolved". */
	if (strcasecmp(v, "firing") == 0)
		a->status = ALERT_FIRING;
	else if (strcasecmp(v, "resolved") == 0)
		a->status = ALERT_RESOLVED;
	else
		return err_set(err, errlen, "status: unknown value%s (expected "
		    "firing or resolved)", quoted(q, sizeof(q), v));
	return 0;
}

int alert_url_ok(const char *v)
{
	return v != NULL && strlen(v) <= ALERT_MAX_URL &&
	    strchr(v, NUL_MARK) == NULL && utf8_valid(v, strlen(v)) &&
	    url_check(v, NULL, 0) == URL_OK;
}

static int parse_url(const cJSON *item, int marked, struct alert *a,
    char *err, size_t errlen)
{
	char why[128];
	const char *v;
	size_t len;

	if (get_string(item, F_URL, ALERT_MAX_URL, marked, &v, &len, err,
	    errlen) != 0)
		return -1;
	if (v == NULL)
		return 0;
	/* Only links a chat client opens safely: http(s) with a host. */
	if (url_check(v, why, sizeof(why)) != URL_OK)
		return err_set(err, errlen, "url: %s", why);
	if ((a->url = dup_n(v, len)) == NULL)
		return err_set(err, errlen, "url: out of memory");
	return 0;
}

/* "labels.NAME" for messages about one label, or "labels (entry N)" when
 * the name is unfit to echo. */
static const char *label_field(char *buf, size_t size, const char *name,
    size_t idx)
{
	char q[QUOTE_MAX + 8];

	quoted(q, sizeof(q), name);
	if (q[0] != '\0' && strchr(name, ' ') == NULL)
		/* Drop the quotes that quoted() added: labels.env. */
		snprintf(buf, size, "labels.%.*s", (int)(strlen(q) - 3),
		    q + 2);
	else
		snprintf(buf, size, "labels (entry %zu)", idx + 1);
	return buf;
}

static int check_label(const cJSON *l, size_t idx, const cJSON *first,
    int marked, char *err, size_t errlen)
{
	char what[QUOTE_MAX + 32];
	size_t nlen;
	int dup = 0;

	if (l->string == NULL)
		return err_set(err, errlen, "labels: entry without a name");
	nlen = strlen(l->string);
	if (marked && memchr(l->string, NUL_MARK, nlen) != NULL)
		return err_set(err, errlen,
		    "labels: a label name contains a NUL character");
	if (nlen == 0)
		return err_set(err, errlen, "labels: empty label name");
	/* At most ALERT_MAX_LABELS entries, so this stays cheap. */
	for (const cJSON *o = first; o != l && !dup; o = o->next)
		dup = strcmp(o->string, l->string) == 0;
	if (nlen <= ALERT_MAX_LABEL_NAME && !dup && cJSON_IsString(l) &&
	    l->valuestring != NULL &&
	    check_string("", l->valuestring, strlen(l->valuestring),
	    ALERT_MAX_LABEL_VALUE, marked, NULL, 0) == 0)
		return 0;
	/* Only a bad label pays for naming it in the message. */
	label_field(what, sizeof(what), l->string, idx);
	if (nlen > ALERT_MAX_LABEL_NAME)
		return err_set(err, errlen, "%s: label name longer than %d bytes",
		    what, ALERT_MAX_LABEL_NAME);
	if (dup)
		return err_set(err, errlen, "%s: given more than once", what);
	if (!cJSON_IsString(l) || l->valuestring == NULL)
		return err_set(err, errlen, "%s: expected a string", what);
	return check_string(what, l->valuestring, strlen(l->valuestring),
	    ALERT_MAX_LABEL_VALUE, marked, err, errlen);
}

/* The members of obj, counted up to max, each checked by check_label. */
static int labels_walk(const cJSON *obj, size_t max, int marked,
    size_t *count, char *err, size_t errlen)
{
	size_t n = 0;

	for (const cJSON *l = obj->child; l != NULL; l = l->next, n++) {
		if (n == max)
			return err_set(err, errlen, "labels: more than %zu entries",
			    max);
		if (check_label(l, n, obj->child, marked, err, errlen) != 0)
			return -1;
	}
	*count = n;
	return 0;
}

int alert_labels_check(const cJSON *obj, size_t max, char *err,
    size_t errlen)
{
	size_t n;

	if (obj == NULL || !cJSON_IsObject(obj))
		return err_set(err, errlen, "labels: expected an object");
	return labels_walk(obj, max, 1, &n, err, errlen);
}

static int parse_labels(const cJSON *item, int marked, struct alert *a,
    char *err, size_t errlen)
{
	size_t n = 0;

	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsObject(item))
		return err_set(err, errlen, "labels: expected an object");
	if (labels_walk(item, ALERT_MAX_LABELS, marked, &n, err, errlen) != 0)
		return -1;
	if (n == 0)
		return 0;
	/* Every member is now a checked string, so printing the parsed
	 * object gives the same compact JSON as rebuilding it would. */
	if ((a->labels = cJSON_PrintUnformatted(item)) == NULL)
		return err_set(err, errlen, "labels: out of memory");
	return 0;
}

static enum field field_lookup(const char *name)
{
	for (int f = 0; f < F_COUNT; f++)
		if (strcmp(name, field_names[f]) == 0)
			return (enum field)f;
	return F_COUNT;
}

/* Fills a from the members of the object root. */
static int fill(const cJSON *root, int marked, struct alert *a, char *err,
    size_t errlen)
{
	const cJSON *m[F_COUNT] = { NULL };
	enum field f;

	for (const cJSON *c = root->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			continue;
		if (marked && strchr(c->string, NUL_MARK) != NULL)
			return err_set(err, errlen,
			    "json: a field name contains a NUL character");
		if ((f = field_lookup(c->string)) == F_COUNT)
			continue;	/* unknown: forward compatibility */
		/* JSON leaves duplicates undefined; refuse to guess. */
		if (m[f] != NULL)
			return err_set(err, errlen, "%s: given more than once",
			    field_names[f]);
		m[f] = c;
	}
	if (parse_severity(m[F_SEVERITY], marked, a, err, errlen) != 0 ||
	    parse_status(m[F_STATUS], marked, a, err, errlen) != 0 ||
	    take_string(m[F_SOURCE], F_SOURCE, ALERT_MAX_SOURCE, 0, marked,
	    &a->source, err, errlen) != 0 ||
	    take_string(m[F_TITLE], F_TITLE, ALERT_MAX_TITLE, 1, marked,
	    &a->title, err, errlen) != 0 ||
	    take_string(m[F_TEXT], F_TEXT, ALERT_MAX_TEXT, 1, marked,
	    &a->text, err, errlen) != 0 ||
	    take_string(m[F_KEY], F_KEY, ALERT_MAX_KEY, 0, marked, &a->key,
	    err, errlen) != 0 ||
	    parse_url(m[F_URL], marked, a, err, errlen) != 0 ||
	    parse_labels(m[F_LABELS], marked, a, err, errlen) != 0)
		return -1;
	if (a->title == NULL && a->text == NULL)
		return err_set(err, errlen, "text: required (or title)");
	/* An empty key would tie every keyless-looking alert together. */
	if (a->key != NULL && a->key[0] == '\0')
		return err_set(err, errlen,
		    "key: must not be empty (omit it or use null)");
	if (a->status == ALERT_RESOLVED && a->key == NULL)
		return err_set(err, errlen,
		    "key: required when status is resolved");
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *alert_json_kind(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "an object";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	return "something else";
}

/*
 * How errors name the input: a socket line ("line: ..." for its bytes,
 * "json: ..." for its syntax, and it must be an object) or an HTTP body
 * ("body: ..." for both, any JSON value).
 */
struct source_names {
	const char *raw;
	const char *json;
	const char *expected;
	int object_only;
};

static const struct source_names line_names = {
	"line", "json", "a JSON object", 1
};
static const struct source_names body_names = {
	"body", "body", "JSON", 0
};

/* Checks the raw bytes and parses them into *root. */
static int parse_json(const char *line, size_t len,
    const struct source_names *nm, cJSON **root, int *marked, char *err,
    size_t errlen)
{
	const char *nul, *end = NULL, *src = line;
	char *copy = NULL;
	size_t i, bad, off;
	int rc;

	for (i = 0; i < len && is_space(line[i]); i++)
		;
	if (i == len)
		return err_set(err, errlen, "%s: empty (expected %s)", nm->raw,
		    nm->expected);
	if ((bad = utf8_scan(line, len)) < len)
		return err_set(err, errlen, "%s: invalid UTF-8 at byte %zu",
		    nm->raw, bad);
	/* A raw NUL would cut a string short inside cJSON, or pass as
	 * whitespace outside one. */
	if ((nul = memchr(line, '\0', len)) != NULL)
		return err_set(err, errlen,
		    "%s: contains a NUL byte at byte %zu", nm->raw,
		    (size_t)(nul - line));
	if ((rc = scan_escapes(line, len, nm->json, err, errlen)) < 0)
		return -1;
	if ((*marked = rc) != 0) {
		if ((copy = mark_nuls(line, len)) == NULL)
			return err_set(err, errlen, "%s: out of memory",
			    nm->raw);
		src = copy;
	}
	*root = cJSON_ParseWithLengthOpts(src, len, &end, 0);
	/* end points into src: keep only its offset, src may be freed. */
	off = end != NULL ? (size_t)(end - src) : 0;
	free(copy);
	if (*root == NULL)
		return err_set(err, errlen, nm->object_only ?
		    "%s: invalid JSON near byte %zu" :
		    "%s: not valid JSON (near byte %zu)", nm->json, off);
	if (nm->object_only && !cJSON_IsObject(*root)) {
		err_set(err, errlen, "%s: expected a JSON object (got %s)",
		    nm->raw, alert_json_kind(*root));
		goto bad;
	}
	for (i = off; i < len && is_space(line[i]); i++)
		;
	if (i < len) {
		err_set(err, errlen, "%s: unexpected data after the %s at "
		    "byte %zu", nm->json, nm->object_only ? "object" :
		    "JSON value", i);
		goto bad;
	}
	return 0;
bad:
	cJSON_Delete(*root);
	*root = NULL;
	return -1;
}

int alert_json_parse(const char *buf, size_t len, cJSON **root, char *err,
    size_t errlen)
{
	int marked;

	*root = NULL;
	if (buf == NULL)
		len = 0;
	return parse_json(buf, len, &body_names, root, &marked, err, errlen);
}

/* Fills out from root (an object); on -1 out holds nothing to free. */
static int from_object(const cJSON *root, int marked, struct alert *out,
    char *err, size_t errlen)
{
	int rc;

	out->severity = SEV_INFO;
	out->status = ALERT_FIRING;
	out->peer_uid = -1;
	out->peer_pid = -1;
	rc = fill(root, marked, out, err, errlen);
	if (rc != 0)
		alert_free(out);
	return rc;
}

int alert_from_json(const cJSON *obj, struct alert *out, char *err,
    size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (obj == NULL || !cJSON_IsObject(obj))
		return err_set(err, errlen, "alert: expected a JSON object "
		    "(got %s)", obj != NULL ? alert_json_kind(obj) : "nothing");
	/* Always marked: strings of a tree from alert_json_parse() hold
	 * NUL_MARK exactly where the JSON had a NUL, and nowhere else. */
	return from_object(obj, 1, out, err, errlen);
}

int alert_parse(const char *line, size_t len, struct alert *out, char *err,
    size_t errlen)
{
	cJSON *root = NULL;
	int marked = 0, rc;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (line == NULL)
		len = 0;
	if (parse_json(line, len, &line_names, &root, &marked, err,
	    errlen) != 0)
		return -1;
	rc = from_object(root, marked, out, err, errlen);
	cJSON_Delete(root);
	return rc;
}

void alert_free(struct alert *a)
{
	if (a == NULL)
		return;
	free(a->source);
	free(a->title);
	free(a->text);
	free(a->key);
	free(a->url);
	free(a->labels);
	free(a->meta);
	memset(a, 0, sizeof(*a));
}
