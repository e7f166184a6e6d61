/*
 * fuzz_alert.c - libFuzzer target for the NDJSON alert parser
 * (alerts/alert.c): alert_parse() on arbitrary bytes. On success every
 * promise of alert.h is checked (title or text present and non-empty,
 * strings valid UTF-8 and within ALERT_MAX_*, resolved alerts have a key,
 * labels a flat object of string values, url http(s)); on failure the
 * error is a one-line, valid UTF-8 "<field>: <what>" and nothing is left
 * to free. Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "tests/fuzz/fuzz.h"

/* A string field: absent, or non-empty, valid UTF-8 (by both the module's
 * checker and ours) and at most max bytes. */
static void check_str(const char *what, const char *s, size_t max,
		      int may_be_empty)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	FUZZ_CHECK(n <= max, "%s: %zu bytes > %zu", what, n, max);
	FUZZ_CHECK(may_be_empty || n > 0, "%s: present but empty", what);
	FUZZ_CHECK(utf8_valid(s, n), "%s: utf8_valid() refuses it", what);
	FUZZ_CHECK(fuzz_utf8_ok(s, n), "%s: not strict UTF-8", what);
}

static void check_labels(const char *labels)
{
	cJSON *o, *it, *jt;
	size_t n = 0;

	if (labels == NULL)
		return;
	FUZZ_CHECK(fuzz_utf8_ok(labels, strlen(labels)), "labels: bad UTF-8");
	o = cJSON_Parse(labels);
	FUZZ_CHECK(o != NULL && cJSON_IsObject(o), "labels not an object: %s",
		   labels);
	cJSON_ArrayForEach(it, o) {
		n++;
		FUZZ_CHECK(it->string != NULL && it->string[0] != '\0',
			   "labels: empty name");
		check_str("label name", it->string, ALERT_MAX_LABEL_NAME, 0);
		FUZZ_CHECK(cJSON_IsString(it) && it->valuestring != NULL,
			   "labels.%s: not a string", it->string);
		check_str("label value", it->valuestring,
			  ALERT_MAX_LABEL_VALUE, 1);
		for (jt = it->next; jt != NULL; jt = jt->next)
			FUZZ_CHECK(strcmp(it->string, jt->string) != 0,
				   "labels.%s: given twice", it->string);
	}
	FUZZ_CHECK(n <= ALERT_MAX_LABELS, "labels: %zu entries", n);
	cJSON_Delete(o);
}

static void check_ok(const struct alert *a)
{
	FUZZ_CHECK((unsigned)a->severity < SEV_COUNT, "severity %d",
		   (int)a->severity);
	FUZZ_CHECK(a->status == ALERT_FIRING || a->status == ALERT_RESOLVED,
		   "status %d", (int)a->status);
	FUZZ_CHECK(a->title != NULL || a->text != NULL, "no title nor text");
	check_str("source", a->source, ALERT_MAX_SOURCE, 1); /* "" is kept */
	check_str("title", a->title, ALERT_MAX_TITLE, 0);
	check_str("text", a->text, ALERT_MAX_TEXT, 0);
	check_str("key", a->key, ALERT_MAX_KEY, 0);
	check_str("url", a->url, ALERT_MAX_URL, 0);
	FUZZ_CHECK(a->status != ALERT_RESOLVED || a->key != NULL,
		   "resolved without a key");
	FUZZ_CHECK(a->url == NULL || strncasecmp(a->url, "http://", 7) == 0 ||
		   strncasecmp(a->url, "https://", 8) == 0,
		   "url not http(s): %s", a->url);
	check_labels(a->labels);
	FUZZ_CHECK(a->id == 0 && a->peer_uid == -1 && a->peer_pid == -1,
		   "id/peer not at their defaults");
}

static void check_error(const struct alert *a, const char *err, size_t size)
{
	size_t n = strnlen(err, size), i;

	FUZZ_CHECK(n < size, "error message not terminated");
	FUZZ_CHECK(n > 0, "rejected without a message");
	FUZZ_CHECK(strchr(err, ':') != NULL, "not \"field: what\": %s", err);
	FUZZ_CHECK(fuzz_utf8_ok(err, n), "error message not UTF-8: %s", err);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
			   "control character in error message");
	FUZZ_CHECK(a->source == NULL && a->title == NULL && a->text == NULL &&
		   a->key == NULL && a->url == NULL && a->labels == NULL,
		   "rejected alert still holds strings");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_dup(data, size, 0);
	char err[256]; /* the size alerts/intake.c uses */
	struct alert a;

	memset(&a, 0xa5, sizeof(a));
	memset(err, 0xa5, sizeof(err));
	if (alert_parse(line, size, &a, err, sizeof(err)) == 0) {
		check_ok(&a);
		alert_free(&a);
		FUZZ_CHECK(a.title == NULL && a.text == NULL,
			   "alert_free did not zero");
	} else {
		check_error(&a, err, sizeof(err));
	}
	/* The parser must not keep pointers into the line. */
	memset(line, '#', size);
	free(line);
	return 0;
}
