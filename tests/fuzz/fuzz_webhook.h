/*
 * fuzz_webhook.h - the checks shared by the webhook payload fuzz targets
 * (fuzz_webhook_am.c, fuzz_webhook_grafana.c, fuzz_webhook_generic.c):
 * webhook_parse() of one kind on arbitrary bytes. On success every
 * promise of webhook.h and alert.h is checked on every alert (count within
 * max_alerts, title or text, strings valid UTF-8 within ALERT_MAX_*, key
 * from the fingerprint, url http(s), labels a flat object of at most
 * ALERT_MAX_LABELS strings, meta a JSON object of at most ALERT_MAX_META
 * bytes naming its sender); on failure the message is one printable,
 * valid UTF-8 line "<where>: <what>" and *out is NULL. Any violation
 * aborts.
 */
#ifndef OPSBOT_FUZZ_WEBHOOK_H
#define OPSBOT_FUZZ_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "alerts/webhook.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "tests/fuzz/fuzz.h"

/* Small, so that the limit itself is reached by the fuzzer. */
#define FUZZ_MAX_ALERTS 16

static void fw_check_str(const char *what, const char *s, size_t max,
			 int may_be_empty)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	FUZZ_CHECK(n <= max, "%s: %zu bytes > %zu", what, n, max);
	FUZZ_CHECK(may_be_empty || n > 0, "%s: present but empty", what);
	FUZZ_CHECK(fuzz_utf8_ok(s, n), "%s: not strict UTF-8", what);
}

static void fw_check_labels(const char *labels, int sorted)
{
	cJSON *o, *it;
	size_t n = 0;

	if (labels == NULL)
		return;
	o = cJSON_Parse(labels);
	FUZZ_CHECK(o != NULL && cJSON_IsObject(o), "labels: %s", labels);
	cJSON_ArrayForEach(it, o) {
		n++;
		fw_check_str("label name", it->string, ALERT_MAX_LABEL_NAME, 0);
		FUZZ_CHECK(cJSON_IsString(it), "label %s not a string",
			   it->string);
		fw_check_str("label value", it->valuestring,
			     ALERT_MAX_LABEL_VALUE, 1);
		/* Webhook labels are sorted by name, so given once. */
		FUZZ_CHECK(!sorted || it->next == NULL ||
			   strcmp(it->string, it->next->string) < 0,
			   "labels not sorted: %s", labels);
	}
	FUZZ_CHECK(n > 0 && n <= ALERT_MAX_LABELS, "labels: %zu entries", n);
	cJSON_Delete(o);
}

static void fw_check_meta(const char *meta, const char *via,
			  const char *key)
{
	const cJSON *v, *fp, *links, *l;
	cJSON *o;

	FUZZ_CHECK(meta != NULL, "webhook alert without meta");
	FUZZ_CHECK(strlen(meta) <= ALERT_MAX_META, "meta too long");
	FUZZ_CHECK(fuzz_utf8_ok(meta, strlen(meta)), "meta: bad UTF-8");
	o = cJSON_Parse(meta);
	FUZZ_CHECK(o != NULL && cJSON_IsObject(o), "meta: %s", meta);
	v = cJSON_GetObjectItemCaseSensitive(o, "via");
	FUZZ_CHECK(cJSON_IsString(v) && strcmp(v->valuestring, via) == 0,
		   "meta.via: %s", meta);
	fp = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
	FUZZ_CHECK(cJSON_IsString(fp) &&
		   strcmp(strchr(key, ':') + 1, fp->valuestring) == 0,
		   "key %s does not carry the fingerprint", key);
	links = cJSON_GetObjectItemCaseSensitive(o, "links");
	FUZZ_CHECK(links == NULL || (cJSON_IsArray(links) &&
				     cJSON_GetArraySize(links) > 0),
		   "meta.links: %s", meta);
	cJSON_ArrayForEach(l, links) {
		v = cJSON_GetObjectItemCaseSensitive(l, "url");
		FUZZ_CHECK(cJSON_IsString(v) && alert_url_ok(v->valuestring),
			   "link not http(s): %s", meta);
	}
	cJSON_Delete(o);
}

static void fw_check_alert(const struct alert *a, enum webhook_kind kind)
{
	FUZZ_CHECK((unsigned)a->severity < SEV_COUNT, "severity %d",
		   (int)a->severity);
	FUZZ_CHECK(a->status == ALERT_FIRING || a->status == ALERT_RESOLVED,
		   "status %d", (int)a->status);
	FUZZ_CHECK(a->title != NULL || a->text != NULL, "no title nor text");
	fw_check_str("source", a->source, ALERT_MAX_SOURCE, 1);
	fw_check_str("title", a->title, ALERT_MAX_TITLE, 0);
	fw_check_str("text", a->text, ALERT_MAX_TEXT, 0);
	fw_check_str("key", a->key, ALERT_MAX_KEY, 0);
	fw_check_str("url", a->url, ALERT_MAX_URL, 0);
	FUZZ_CHECK(a->url == NULL || strncasecmp(a->url, "http://", 7) == 0 ||
		   strncasecmp(a->url, "https://", 8) == 0,
		   "url not http(s): %s", a->url);
	FUZZ_CHECK(a->status != ALERT_RESOLVED || a->key != NULL,
		   "resolved without a key");
	fw_check_labels(a->labels, kind != WEBHOOK_GENERIC);
	FUZZ_CHECK(a->id == 0 && a->received_at == 0 && a->peer_uid == -1 &&
		   a->peer_pid == -1, "caller's fields not at their defaults");
	if (kind == WEBHOOK_GENERIC) {
		FUZZ_CHECK(a->meta == NULL, "generic alert with meta");
		return;
	}
	FUZZ_CHECK(a->key != NULL && strncmp(a->key, kind ==
		   WEBHOOK_ALERTMANAGER ? "am:" : "grafana:", kind ==
		   WEBHOOK_ALERTMANAGER ? 3 : 8) == 0, "key %s", a->key);
	fw_check_meta(a->meta, webhook_kind_name(kind), a->key);
}

static void fw_check_error(const char *err, size_t size)
{
	size_t n = strnlen(err, size);

	FUZZ_CHECK(n < size, "error message not terminated");
	FUZZ_CHECK(n > 0, "rejected without a message");
	FUZZ_CHECK(strstr(err, ": ") != NULL, "not \"where: what\": %s", err);
	FUZZ_CHECK(fuzz_utf8_ok(err, n), "error message not UTF-8: %s", err);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f,
			   "control character in error message");
}

static int fw_run(enum webhook_kind kind, const uint8_t *data, size_t size)
{
	struct webhook_opts o = { SEV_WARNING, FUZZ_MAX_ALERTS };
	char *body = fuzz_dup(data, size, 0);
	char err[256]; /* what the HTTP reply carries */
	struct alert *out = (struct alert *)&o;
	int n;

	memset(err, 0xa5, sizeof(err));
	n = webhook_parse(kind, body, size, &o, &out, err, sizeof(err));
	/* The alerts must not point into the body. */
	memset(body, '#', size);
	free(body);
	if (n < 0) {
		FUZZ_CHECK(n == -1, "returned %d", n);
		FUZZ_CHECK(out == NULL, "rejected but *out set");
		fw_check_error(err, sizeof(err));
		return 0;
	}
	FUZZ_CHECK((size_t)n <= FUZZ_MAX_ALERTS, "%d alerts > max", n);
	FUZZ_CHECK((n == 0) == (out == NULL), "%d alerts, out %p", n,
		   (void *)out);
	for (int i = 0; i < n; i++) {
		fw_check_alert(&out[i], kind);
		alert_free(&out[i]);
	}
	free(out);
	return 0;
}

#endif
