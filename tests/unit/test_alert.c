/*
 * test_alert.c - unit tests for the NDJSON alert parser (alerts/alert.c):
 * valid lines and their parsed values, every kind of rejection with its
 * error field, limits at and one past the edge, raw and escaped UTF-8.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"

/* Parses n bytes from an exact-size heap copy, so that the sanitizer build
 * catches any read past the line (it is not NUL-terminated), and so that
 * the alert cannot point into the input. */
static int parse_n(const char *s, size_t n, struct alert *a, char *err,
    size_t errlen)
{
	char *buf = malloc(n > 0 ? n : 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, s, n);
	rc = alert_parse(buf, n, a, err, errlen);
	memset(buf, '#', n);
	free(buf);
	return rc;
}

static int parse(const char *s, struct alert *a, char *err, size_t errlen)
{
	return parse_n(s, strlen(s), a, err, errlen);
}

/* Parses a line that must be valid; fails the test with the message. */
static void parse_ok(const char *s, struct alert *a)
{
	char err[256];

	if (parse(s, a, err, sizeof(err)) != 0)
		fail_msg("rejected %s: %s", s, err);
}

static void assert_zeroed(const struct alert *a)
{
	struct alert zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(a, &zero, sizeof(zero));
}

/* Parses a line that must be rejected with a message starting with
 * prefix; returns the message. */
static const char *parse_bad_n(const char *s, size_t n, const char *prefix)
{
	static char err[512];
	struct alert a;

	memset(err, 0, sizeof(err));
	if (parse_n(s, n, &a, err, sizeof(err)) == 0) {
		alert_free(&a);
		fail_msg("accepted %.*s, expected %s", (int)n, s, prefix);
	}
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("line %.*s: got \"%s\", expected prefix \"%s\"",
		    (int)n, s, err, prefix);
	/* On -1 the alert owns nothing. */
	assert_zeroed(&a);
	return err;
}

static const char *parse_bad(const char *s, const char *prefix)
{
	return parse_bad_n(s, strlen(s), prefix);
}

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- valid lines ---- */

static void test_defaults(void **state)
{
	struct alert a;

	parse_ok("{\"text\":\"disk full\"}", &a);
	assert_int_equal(a.severity, SEV_INFO);
	assert_int_equal(a.status, ALERT_FIRING);
	assert_string_equal(a.text, "disk full");
	assert_null(a.title);
	assert_null(a.source);
	assert_null(a.key);
	assert_null(a.url);
	assert_null(a.labels);
	assert_int_equal(a.id, 0);
	assert_int_equal(a.received_at, 0);
	assert_int_equal(a.repeats, 0);
	assert_int_equal(a.peer_uid, -1);
	assert_int_equal(a.peer_pid, -1);
	alert_free(&a);
}

static void test_full_example(void **state)
{
	struct alert a;

	parse_ok("{\"severity\":\"critical\",\"source\":\"db1\","
	    "\"title\":\"Replication lag\",\"text\":\"lag 120 s > 30 s\","
	    "\"key\":\"db1/repl-lag\",\"status\":\"firing\","
	    "\"labels\":{\"env\":\"prod\",\"dc\":\"fra\"},"
	    "\"url\":\"https://grafana.example/d/abc\"}", &a);
	assert_int_equal(a.severity, SEV_CRITICAL);
	assert_int_equal(a.status, ALERT_FIRING);
	assert_string_equal(a.source, "db1");
	assert_string_equal(a.title, "Replication lag");
	assert_string_equal(a.text, "lag 120 s > 30 s");
	assert_string_equal(a.key, "db1/repl-lag");
	assert_string_equal(a.url, "https://grafana.example/d/abc");
	assert_string_equal(a.labels, "{\"env\":\"prod\",\"dc\":\"fra\"}");
	alert_free(&a);
}

/* Every severity in lower, upper and alternating case. */
static void test_severity_any_case(void **state)
{
	for (int s = 0; s < SEV_COUNT; s++) {
		const char *name = severity_name((enum severity)s);
		char forms[3][16];
		size_t n = strlen(name);

		for (size_t i = 0; i <= n; i++) {
			forms[0][i] = name[i];
			forms[1][i] = (char)toupper((unsigned char)name[i]);
			forms[2][i] = i % 2 ? forms[1][i] : name[i];
		}
		for (int f = 0; f < 3; f++) {
			struct alert a;
			char *line = xasprintf("{\"severity\":\"%s\","
			    "\"text\":\"x\"}", forms[f]);

			parse_ok(line, &a);
			assert_int_equal(a.severity, s);
			alert_free(&a);
			free(line);
		}
	}
}

static void test_resolved_with_key(void **state)
{
	struct alert a;

	parse_ok("{\"status\":\"resolved\",\"key\":\"db1/lag\","
	    "\"text\":\"ok\"}", &a);
	assert_int_equal(a.status, ALERT_RESOLVED);
	assert_string_equal(a.key, "db1/lag");
	alert_free(&a);

	parse_ok("{\"status\":\"Resolved\",\"key\":\"k\",\"title\":\"t\"}",
	    &a);
	assert_int_equal(a.status, ALERT_RESOLVED);
	alert_free(&a);

	parse_ok("{\"status\":\"FIRING\",\"text\":\"t\"}", &a);
	assert_int_equal(a.status, ALERT_FIRING);
	alert_free(&a);
}

static void test_title_only_text_only(void **state)
{
	struct alert a;

	parse_ok("{\"title\":\"only a title\"}", &a);
	assert_string_equal(a.title, "only a title");
	assert_null(a.text);
	alert_free(&a);

	parse_ok("{\"text\":\"only text\"}", &a);
	assert_null(a.title);
	assert_string_equal(a.text, "only text");
	alert_free(&a);

	/* An empty title is absent, the text carries the alert. */
	parse_ok("{\"title\":\"\",\"text\":\"t\"}", &a);
	assert_null(a.title);
	assert_string_equal(a.text, "t");
	alert_free(&a);
}

static void test_nulls_are_absent(void **state)
{
	struct alert a;

	parse_ok("{\"text\":\"x\",\"severity\":null,\"source\":null,"
	    "\"title\":null,\"key\":null,\"status\":null,\"labels\":null,"
	    "\"url\":null}", &a);
	assert_int_equal(a.severity, SEV_INFO);
	assert_int_equal(a.status, ALERT_FIRING);
	assert_null(a.source);
	assert_null(a.title);
	assert_null(a.key);
	assert_null(a.labels);
	assert_null(a.url);
	assert_string_equal(a.text, "x");
	alert_free(&a);
}

static void test_unknown_fields_ignored(void **state)
{
	struct alert a;

	parse_ok("{\"v\":2,\"text\":\"x\",\"extra\":{\"deep\":[1,{\"a\":"
	    "null}]},\"when\":1.5e9,\"flag\":true,\"Severity\":42,"
	    "\"junk\":\"a\\u0000b\"}", &a);
	assert_string_equal(a.text, "x");
	/* Field names are case-sensitive: "Severity" is unknown. */
	assert_int_equal(a.severity, SEV_INFO);
	alert_free(&a);
}

static void test_strings_untrimmed_and_unescaped(void **state)
{
	struct alert a;

	parse_ok("{\"text\":\"  a\\nb\\t\\\"c\\\" \\\\ \\/ \\u00e9 "
	    "\\ud83d\\ude00  \",\"source\":\"\"}", &a);
	assert_string_equal(a.text,
	    "  a\nb\t\"c\" \\ / \xc3\xa9 \xf0\x9f\x98\x80  ");
	/* Only title and text treat "" as absent. */
	assert_non_null(a.source);
	assert_string_equal(a.source, "");
	alert_free(&a);

	/* An escaped backslash followed by "u0000" is text, not a NUL. */
	parse_ok("{\"text\":\"\\\\u0000\"}", &a);
	assert_string_equal(a.text, "\\u0000");
	alert_free(&a);
}

static void test_whitespace_around_object(void **state)
{
	struct alert a;

	parse_ok(" \t{ \"text\" : \"x\" } \t\r\n ", &a);
	assert_string_equal(a.text, "x");
	alert_free(&a);
}

static void test_labels_valid(void **state)
{
	struct alert a;
	char *line, *body = NULL;
	cJSON *j;

	parse_ok("{\"text\":\"x\",\"labels\":{}}", &a);
	assert_null(a.labels);
	alert_free(&a);

	parse_ok("{\"text\":\"x\",\"labels\":{ \"env\" : \"prod\", "
	    "\"note\":\"say \\\"hi\\\"\\n\"}}", &a);
	assert_string_equal(a.labels,
	    "{\"env\":\"prod\",\"note\":\"say \\\"hi\\\"\\n\"}");
	alert_free(&a);

	/* Exactly ALERT_MAX_LABELS entries. */
	for (int i = 0; i < ALERT_MAX_LABELS; i++) {
		char *next = xasprintf("%s%s\"l%d\":\"v%d\"", body ? body : "",
		    body ? "," : "", i, i);

		free(body);
		body = next;
	}
	line = xasprintf("{\"text\":\"x\",\"labels\":{%s}}", body);
	parse_ok(line, &a);
	j = cJSON_Parse(a.labels);
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), ALERT_MAX_LABELS);
	assert_string_equal(cJSON_GetObjectItem(j, "l31")->valuestring,
	    "v31");
	cJSON_Delete(j);
	alert_free(&a);
	free(line);

	/* One more is too many. */
	line = xasprintf("{\"text\":\"x\",\"labels\":{%s,\"extra\":\"v\"}}",
	    body);
	assert_string_equal(parse_bad(line, "labels: "),
	    "labels: more than 32 entries");
	free(line);
	free(body);
}

static void test_url_schemes(void **state)
{
	static const char *const ok[] = {
		"http://a", "https://grafana.example/d/x?from=now-1h#p",
		"HTTPS://Example.org/", "Http://10.0.0.1:3000/",
	};
	struct alert a;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *line = xasprintf("{\"text\":\"x\",\"url\":\"%s\"}",
		    ok[i]);

		parse_ok(line, &a);
		assert_string_equal(a.url, ok[i]);
		alert_free(&a);
		free(line);
	}
}

/* ---- rejected lines, table-driven ---- */

struct bad_case {
	const char *line;
	const char *prefix;	/* error must start with this */
	const char *exact;	/* and equal this, when set */
};

static const struct bad_case bad_cases[] = {
	/* text / title */
	{ "{}", "text: ", "text: required (or title)" },
	{ "{\"source\":\"a\",\"key\":\"k\"}", "text: ",
	    "text: required (or title)" },
	{ "{\"text\":\"\"}", "text: ", "text: required (or title)" },
	{ "{\"text\":\"\",\"title\":\"\"}", "text: ", NULL },
	{ "{\"text\":null,\"title\":null}", "text: ", NULL },
	/* severity */
	{ "{\"severity\":\"urgent\",\"text\":\"x\"}", "severity: ",
	    "severity: unknown value \"urgent\" (expected critical, error, "
	    "warning, info, debug)" },
	{ "{\"severity\":\"\",\"text\":\"x\"}", "severity: ",
	    "severity: unknown value \"\" (expected critical, error, "
	    "warning, info, debug)" },
	{ "{\"severity\":\" info\",\"text\":\"x\"}", "severity: ", NULL },
	/* a value unfit to echo is left out of the message */
	{ "{\"severity\":\"a\\nb\",\"text\":\"x\"}", "severity: ",
	    "severity: unknown value (expected critical, error, warning, "
	    "info, debug)" },
	{ "{\"severity\":\"x\\\"y\",\"text\":\"x\"}", "severity: ",
	    "severity: unknown value (expected critical, error, warning, "
	    "info, debug)" },
	/* status and key */
	{ "{\"status\":\"open\",\"text\":\"x\"}", "status: ",
	    "status: unknown value \"open\" (expected firing or resolved)" },
	{ "{\"status\":\"resolved\",\"text\":\"x\"}", "key: ",
	    "key: required when status is resolved" },
	{ "{\"status\":\"resolved\",\"key\":null,\"text\":\"x\"}", "key: ",
	    "key: required when status is resolved" },
	{ "{\"key\":\"\",\"text\":\"x\"}", "key: ", NULL },
	/* wrong types for known fields */
	{ "{\"severity\":1,\"text\":\"x\"}", "severity: ",
	    "severity: expected a string" },
	{ "{\"source\":1,\"text\":\"x\"}", "source: ",
	    "source: expected a string" },
	{ "{\"title\":true}", "title: ", "title: expected a string" },
	{ "{\"text\":[\"a\"]}", "text: ", "text: expected a string" },
	{ "{\"key\":{},\"text\":\"x\"}", "key: ", "key: expected a string" },
	{ "{\"status\":false,\"text\":\"x\"}", "status: ",
	    "status: expected a string" },
	{ "{\"url\":5,\"text\":\"x\"}", "url: ", "url: expected a string" },
	{ "{\"labels\":\"env=prod\",\"text\":\"x\"}", "labels: ",
	    "labels: expected an object" },
	{ "{\"labels\":[\"a\"],\"text\":\"x\"}", "labels: ",
	    "labels: expected an object" },
	/* labels */
	{ "{\"labels\":{\"env\":{\"a\":\"b\"}},\"text\":\"x\"}",
	    "labels.env: ", "labels.env: expected a string" },
	{ "{\"labels\":{\"port\":8080},\"text\":\"x\"}", "labels.port: ",
	    "labels.port: expected a string" },
	{ "{\"labels\":{\"ok\":\"y\",\"on\":true},\"text\":\"x\"}",
	    "labels.on: ", "labels.on: expected a string" },
	{ "{\"labels\":{\"n\":null},\"text\":\"x\"}", "labels.n: ", NULL },
	{ "{\"labels\":{\"a\":[]},\"text\":\"x\"}", "labels.a: ", NULL },
	{ "{\"labels\":{\"\":\"v\"},\"text\":\"x\"}", "labels: ",
	    "labels: empty label name" },
	{ "{\"labels\":{\"a b\":1},\"text\":\"x\"}", "labels (entry 1): ",
	    NULL },
	{ "{\"labels\":{\"env\":\"a\",\"env\":\"b\"},\"text\":\"x\"}",
	    "labels.env: ", "labels.env: given more than once" },
	/* duplicate known field */
	{ "{\"text\":\"a\",\"text\":\"b\"}", "text: ",
	    "text: given more than once" },
	/* url */
	{ "{\"url\":\"ftp://x/y\",\"text\":\"x\"}", "url: ",
	    "url: must start with http:// or https://" },
	{ "{\"url\":\"javascript:alert(1)\",\"text\":\"x\"}", "url: ", NULL },
	{ "{\"url\":\"grafana.example\",\"text\":\"x\"}", "url: ", NULL },
	{ "{\"url\":\"\",\"text\":\"x\"}", "url: ", NULL },
	{ "{\"url\":\"https://\",\"text\":\"x\"}", "url: ",
	    "url: missing host" },
	{ "{\"url\":\"https://a b\",\"text\":\"x\"}", "url: ", NULL },
	{ "{\"url\":\"https://a\\nb\",\"text\":\"x\"}", "url: ", NULL },
	/* escaped NUL anywhere a value is used */
	{ "{\"text\":\"a\\u0000b\"}", "text: ",
	    "text: contains a NUL character" },
	{ "{\"title\":\"\\u0000\",\"text\":\"x\"}", "title: ",
	    "title: contains a NUL character" },
	{ "{\"severity\":\"info\\u0000x\",\"text\":\"x\"}", "severity: ",
	    "severity: contains a NUL character" },
	{ "{\"key\":\"k\\u0000\",\"text\":\"x\"}", "key: ", NULL },
	{ "{\"labels\":{\"env\":\"p\\u0000\"},\"text\":\"x\"}",
	    "labels.env: ", "labels.env: contains a NUL character" },
	{ "{\"labels\":{\"e\\u0000\":\"p\"},\"text\":\"x\"}", "labels: ",
	    "labels: a label name contains a NUL character" },
	/* "text\0x" would otherwise be read as "text" */
	{ "{\"text\\u0000x\":\"y\",\"title\":\"t\"}", "json: ",
	    "json: a field name contains a NUL character" },
	/* not an object */
	{ "[]", "line: ", "line: expected a JSON object (got an array)" },
	{ "[{\"text\":\"x\"}]", "line: ", NULL },
	{ "\"text\"", "line: ", "line: expected a JSON object (got a string)" },
	{ "42", "line: ", "line: expected a JSON object (got a number)" },
	{ "null", "line: ", "line: expected a JSON object (got null)" },
	{ "true", "line: ", "line: expected a JSON object (got a boolean)" },
	/* empty */
	{ "", "line: ", "line: empty (expected a JSON object)" },
	{ " \t\r", "line: ", "line: empty (expected a JSON object)" },
	/* invalid JSON */
	{ "{\"text\":}", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"x\"", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"x", "json: invalid JSON near byte ", NULL },
	{ "{'text':'x'}", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"x\",}", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"x\\", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"\\q\"}", "json: invalid JSON near byte ", NULL },
	{ "{\"text\":\"\\u00zz\"}", "json: ",
	    "json: invalid \\u escape at byte 9" },
	{ "{\"text\":\"\\u12\"}", "json: ",
	    "json: invalid \\u escape at byte 9" },
	/* lone surrogate escapes */
	{ "{\"text\":\"\\ud800\"}", "json: ",
	    "json: unpaired UTF-16 surrogate escape at byte 9" },
	{ "{\"text\":\"a\\udc00\"}", "json: ",
	    "json: unpaired UTF-16 surrogate escape at byte 10" },
	{ "{\"text\":\"\\ud800\\u0041\"}", "json: ", NULL },
	{ "{\"text\":\"\\ud800\\ud800\"}", "json: ", NULL },
	/* trailing data */
	{ "{\"text\":\"x\"} x", "json: ",
	    "json: unexpected data after the object at byte 13" },
	{ "{\"text\":\"x\"}{\"text\":\"y\"}", "json: ",
	    "json: unexpected data after the object at byte 12" },
	{ "{\"text\":\"x\"}\n{\"text\":\"y\"}", "json: ", NULL },
};

static void test_bad_table(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]);
	    i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *err = parse_bad(c->line, c->prefix);

		if (c->exact != NULL && strcmp(err, c->exact) != 0)
			fail_msg("line %s: got \"%s\", expected \"%s\"",
			    c->line, err, c->exact);
	}
}

/* The byte positions in messages point at the offending byte. */
static void test_trailing_position(void **state)
{
	const char *line = "{\"text\":\"x\"}   ;";
	char *want = xasprintf("json: unexpected data after the object at "
	    "byte %zu", (size_t)(strchr(line, ';') - line));

	assert_string_equal(parse_bad(line, "json: "), want);
	free(want);
}

/* ---- raw bytes ---- */

static void test_invalid_utf8_raw(void **state)
{
	static const char *const seqs[] = {
		"\xC0\xAF",		/* overlong '/' */
		"\xC1\xBF",		/* overlong */
		"\xE0\x80\xAF",		/* overlong 3-byte */
		"\xF0\x80\x80\xAF",	/* overlong 4-byte */
		"\xED\xA0\x80",		/* surrogate U+D800 */
		"\xED\xBF\xBF",		/* surrogate U+DFFF */
		"\xF4\x90\x80\x80",	/* U+110000 */
		"\xF5\x80\x80\x80",
		"\xE2\x82",		/* truncated, then '"' */
		"\xE2\x82x",		/* truncated, then ASCII */
		"\xFF",
		"\xFE",
		"\x80",			/* stray continuation */
		"\xC3",
	};
	const char *prefix = "{\"text\":\"ok ";

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char *line = xasprintf("%s%s\"}", prefix, seqs[i]);
		char *want = xasprintf("line: invalid UTF-8 at byte %zu",
		    strlen(prefix));

		assert_string_equal(parse_bad(line, "line: "), want);
		free(line);
		free(want);
	}

	/* A sequence cut by the end of the line (len excludes the rest). */
	parse_bad_n("{\"text\":\"\xE2\x82\xAC\"}", 11,
	    "line: invalid UTF-8 at byte 9");
}

static void test_raw_nul_byte(void **state)
{
	static const char line[] = "{\"text\":\"a\0b\"}";

	assert_string_equal(parse_bad_n(line, sizeof(line) - 1, "line: "),
	    "line: contains a NUL byte at byte 10");
	/* Outside a string too (cJSON would skip it as whitespace). */
	static const char line2[] = "{\"text\":\"a\"}\0";
	parse_bad_n(line2, sizeof(line2) - 1, "line: contains a NUL byte");
}

static void test_valid_utf8_values(void **state)
{
	struct alert a;

	/* Highest code point, edges around the surrogates. */
	parse_ok("{\"text\":\"\xF4\x8F\xBF\xBF \xED\x9F\xBF \xEE\x80\x80 "
	    "\xC2\x80 \xDF\xBF \xF0\x90\x80\x80\"}", &a);
	assert_string_equal(a.text, "\xF4\x8F\xBF\xBF \xED\x9F\xBF "
	    "\xEE\x80\x80 \xC2\x80 \xDF\xBF \xF0\x90\x80\x80");
	alert_free(&a);
}

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		int valid;
	} cases[] = {
		{ "", 1 },
		{ "plain ascii text longer than eight bytes", 1 },
		{ "abcdefgh\xC3\xA9xyz", 1 },
		{ "\xE2\x82\xAC", 1 },
		{ "\xF0\x9F\x98\x80", 1 },
		{ "\xF4\x8F\xBF\xBF", 1 },
		{ "\xED\x9F\xBF", 1 },
		{ "\xC0\x80", 0 },
		{ "\xE0\x9F\xBF", 0 },
		{ "\xF0\x8F\xBF\xBF", 0 },
		{ "\xED\xA0\x80", 0 },
		{ "\xF4\x90\x80\x80", 0 },
		{ "abcdefghijklmnop\xFF", 0 },
		{ "\xE2\x82", 0 },
		{ "\xE2\x28\xA1", 0 },
		{ "\xBF", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].s);
		char *buf = malloc(n + 1);

		/* Exact size: the check must respect n. */
		memcpy(buf, cases[i].s, n);
		if (utf8_valid(buf, n) != cases[i].valid)
			fail_msg("case %zu: expected %d", i, cases[i].valid);
		free(buf);
	}
	/* n is honoured: the invalid byte lies past it. */
	assert_int_equal(utf8_valid("ab\xFF", 2), 1);
}

/* ---- limits ---- */

struct limit_case {
	const char *field;
	size_t max;
};

static const struct limit_case limits[] = {
	{ "source", ALERT_MAX_SOURCE },
	{ "title", ALERT_MAX_TITLE },
	{ "text", ALERT_MAX_TEXT },
	{ "key", ALERT_MAX_KEY },
	{ "url", ALERT_MAX_URL },
};

static const char *field_value(const struct alert *a, const char *field)
{
	if (strcmp(field, "source") == 0)
		return a->source;
	if (strcmp(field, "title") == 0)
		return a->title;
	if (strcmp(field, "text") == 0)
		return a->text;
	if (strcmp(field, "key") == 0)
		return a->key;
	return a->url;
}

/* A value of exactly n bytes for field (a valid URL for url). */
static char *value_of(const char *field, size_t n)
{
	char *v = repeat('a', n);

	if (strcmp(field, "url") == 0)
		memcpy(v, "https://", 8);
	return v;
}

static void test_field_limits(void **state)
{
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		const struct limit_case *l = &limits[i];
		/* The required text or title, whichever is not under test. */
		const char *other = strcmp(l->field, "text") ? "text" : "title";
		struct alert a;
		char *v, *line, *want;

		v = value_of(l->field, l->max);
		line = xasprintf("{\"%s\":\"t\",\"%s\":\"%s\"}",
		    other, l->field, v);
		parse_ok(line, &a);
		assert_string_equal(field_value(&a, l->field), v);
		alert_free(&a);
		free(line);
		free(v);

		v = value_of(l->field, l->max + 1);
		line = xasprintf("{\"%s\":\"t\",\"%s\":\"%s\"}",
		    other, l->field, v);
		want = xasprintf("%s: longer than %zu bytes", l->field, l->max);
		assert_string_equal(parse_bad(line, l->field), want);
		free(want);
		free(line);
		free(v);
	}
}

/* Limits are bytes, not characters: 512 two-byte characters fit a
 * 1024-byte title, one more byte does not. */
static void test_limit_counts_bytes(void **state)
{
	char *v = malloc(ALERT_MAX_TITLE + 2), *line;
	struct alert a;

	for (int i = 0; i < ALERT_MAX_TITLE; i += 2)
		memcpy(v + i, "\xC3\xA9", 2);
	v[ALERT_MAX_TITLE] = '\0';
	line = xasprintf("{\"title\":\"%s\"}", v);
	parse_ok(line, &a);
	assert_int_equal(strlen(a.title), ALERT_MAX_TITLE);
	alert_free(&a);
	free(line);

	strcat(v, "x");
	line = xasprintf("{\"title\":\"%s\"}", v);
	parse_bad(line, "title: longer than");
	free(line);
	free(v);

	/* An escape counts as the bytes it decodes to: 1024 "\u00e9". */
	v = malloc(ALERT_MAX_TITLE / 2 * 6 + 1);
	for (int i = 0; i < ALERT_MAX_TITLE / 2; i++)
		memcpy(v + i * 6, "\\u00e9", 6);
	v[ALERT_MAX_TITLE / 2 * 6] = '\0';
	line = xasprintf("{\"title\":\"%s\"}", v);
	parse_ok(line, &a);
	assert_int_equal(strlen(a.title), ALERT_MAX_TITLE);
	alert_free(&a);
	free(line);
	free(v);
}

static void test_label_limits(void **state)
{
	struct alert a;
	char *v, *line, *want;

	v = repeat('v', ALERT_MAX_LABEL_VALUE);
	line = xasprintf("{\"text\":\"x\",\"labels\":{\"k\":\"%s\"}}", v);
	parse_ok(line, &a);
	want = xasprintf("{\"k\":\"%s\"}", v);
	assert_string_equal(a.labels, want);
	alert_free(&a);
	free(want);
	free(line);
	free(v);

	v = repeat('v', ALERT_MAX_LABEL_VALUE + 1);
	line = xasprintf("{\"text\":\"x\",\"labels\":{\"k\":\"%s\"}}", v);
	want = xasprintf("labels.k: longer than %d bytes",
	    ALERT_MAX_LABEL_VALUE);
	assert_string_equal(parse_bad(line, "labels.k: "), want);
	free(want);
	free(line);
	free(v);

	v = repeat('n', ALERT_MAX_LABEL_NAME);
	line = xasprintf("{\"text\":\"x\",\"labels\":{\"%s\":\"v\"}}", v);
	parse_ok(line, &a);
	want = xasprintf("{\"%s\":\"v\"}", v);
	assert_string_equal(a.labels, want);
	alert_free(&a);
	free(want);
	free(line);
	free(v);

	/* A long name is echoed cut short. */
	v = repeat('n', ALERT_MAX_LABEL_NAME + 1);
	line = xasprintf("{\"text\":\"x\",\"labels\":{\"%s\":\"v\"}}", v);
	want = xasprintf("labels.%.*s...: label name longer than %d bytes",
	    QUOTE_MAX, v, ALERT_MAX_LABEL_NAME);
	assert_string_equal(parse_bad(line, "labels."), want);
	free(want);
	free(line);
	free(v);
}

/* A long unknown value is quoted cut to QUOTE_MAX bytes, never inside a
 * character. */
static void test_quote_truncated(void **state)
{
	char *v = repeat('z', 40), *line, *want;

	line = xasprintf("{\"severity\":\"%s\",\"text\":\"x\"}", v);
	want = xasprintf("severity: unknown value \"%.*s...\" (expected "
	    "critical, error, warning, info, debug)", QUOTE_MAX, v);
	assert_string_equal(parse_bad(line, "severity: "), want);
	free(want);
	free(line);

	/* 31 ASCII bytes then a 2-byte character across the cut. */
	memcpy(v + QUOTE_MAX - 1, "\xC3\xA9", 2);
	line = xasprintf("{\"status\":\"%s\",\"text\":\"x\"}", v);
	want = xasprintf("status: unknown value \"%.*s...\" (expected firing "
	    "or resolved)", QUOTE_MAX - 1, v);
	assert_string_equal(parse_bad(line, "status: "), want);
	free(want);
	free(line);
	free(v);
}

/* ---- nesting ---- */

static char *nested(size_t depth)
{
	char *open = repeat('[', depth), *close = repeat(']', depth), *s;

	s = xasprintf("{\"text\":\"x\",\"deep\":%s%s}", open, close);
	free(open);
	free(close);
	return s;
}

static void test_deep_nesting(void **state)
{
	struct alert a;
	char *line;

	/* Nesting inside an unknown field is ignored while cJSON accepts
	 * it... */
	line = nested(200);
	parse_ok(line, &a);
	assert_string_equal(a.text, "x");
	alert_free(&a);
	free(line);

	/* ...and far beyond cJSON's limit it is invalid JSON, no crash. */
	line = nested(100000);
	parse_bad(line, "json: invalid JSON near byte");
	free(line);

	parse_bad("{\"text\":\"x\",\"labels\":{\"a\":{\"b\":{\"c\":\"d\"}}}}",
	    "labels.a: expected a string");
}

/* ---- error buffer and freeing ---- */

static void test_small_error_buffer(void **state)
{
	struct alert a;
	char err[8];

	memset(err, 'X', sizeof(err));
	assert_int_equal(parse("{}", &a, err, sizeof(err)), -1);
	assert_string_equal(err, "text: r");
	assert_int_equal(alert_parse("{}", 2, &a, NULL, 0), -1);
	assert_int_equal(alert_parse("{}", 2, &a, err, 0), -1);
	assert_int_equal(err[0], 't');
}

static void test_alert_free(void **state)
{
	struct alert a;

	memset(&a, 0, sizeof(a));
	alert_free(&a);
	assert_zeroed(&a);

	parse_ok("{\"severity\":\"error\",\"source\":\"s\",\"title\":\"t\","
	    "\"text\":\"x\",\"key\":\"k\",\"url\":\"http://u\","
	    "\"labels\":{\"a\":\"b\"}}", &a);
	alert_free(&a);
	assert_zeroed(&a);
	/* Freeing again is harmless: the alert was zeroed. */
	alert_free(&a);
	alert_free(NULL);
}

/* Errors found late (after strings were copied) leave nothing behind;
 * the sanitizer build checks for leaks. */
static void test_late_error_frees(void **state)
{
	parse_bad("{\"status\":\"resolved\",\"source\":\"s\",\"title\":\"t\","
	    "\"text\":\"x\",\"url\":\"http://u\",\"labels\":{\"a\":\"b\"}}",
	    "key: required when status is resolved");
	parse_bad("{\"source\":\"s\",\"title\":\"t\",\"text\":\"x\","
	    "\"url\":\"http://u\",\"labels\":{\"a\":1}}", "labels.a: ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_severity_any_case),
		cmocka_unit_test(test_resolved_with_key),
		cmocka_unit_test(test_title_only_text_only),
		cmocka_unit_test(test_nulls_are_absent),
		cmocka_unit_test(test_unknown_fields_ignored),
		cmocka_unit_test(test_strings_untrimmed_and_unescaped),
		cmocka_unit_test(test_whitespace_around_object),
		cmocka_unit_test(test_labels_valid),
		cmocka_unit_test(test_url_schemes),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_trailing_position),
		cmocka_unit_test(test_invalid_utf8_raw),
		cmocka_unit_test(test_raw_nul_byte),
		cmocka_unit_test(test_valid_utf8_values),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_limit_counts_bytes),
		cmocka_unit_test(test_label_limits),
		cmocka_unit_test(test_quote_truncated),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_alert_free),
		cmocka_unit_test(test_late_error_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
