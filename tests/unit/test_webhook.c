/*
 * test_webhook.c - unit tests for the HTTP intake's payload parsers
 * (alerts/webhook.c): Alertmanager v4 and Grafana fixtures mapped field
 * by field, severity aliases and the default, keys from fingerprints, the
 * generic object/array, all-or-nothing with "[i] field" errors, limits,
 * JSON bombs and invalid UTF-8.
 *
 * Fixtures are read from tests/fixtures/ (make runs the tests from the
 * repository root).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/webhook.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"

#define FIXTURES "tests/fixtures/"

struct result {
	int n;
	struct alert *a;
	char err[256];
};

/* Parses an exact-size heap copy of body[0..len) (ASan sees any read past
 * it; the alerts must not point into it). */
static void run_n(enum webhook_kind kind, const char *body, size_t len,
		  size_t max_alerts, int dflt, struct result *r)
{
	struct webhook_opts o = { dflt, max_alerts };
	char *copy = malloc(len > 0 ? len : 1);

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, body, len);
	memset(r->err, 0x5a, sizeof(r->err));
	r->a = (struct alert *)0x1;	/* must be reset */
	r->n = webhook_parse(kind, body != NULL ? copy : NULL, len, &o, &r->a,
			     r->err, sizeof(r->err));
	memset(copy, '#', len);
	free(copy);
	if (r->n < 0)
		assert_null(r->a);
	if (r->n == 0)
		assert_null(r->a);
}

static void run(enum webhook_kind kind, const char *body, size_t max_alerts,
		int dflt, struct result *r)
{
	run_n(kind, body, strlen(body), max_alerts, dflt, r);
}

static void result_free(struct result *r)
{
	for (int i = 0; i < r->n; i++)
		alert_free(&r->a[i]);
	free(r->a);
	r->a = NULL;
	r->n = 0;
}

/* Parses body, which must be accepted with n alerts. */
static void ok(enum webhook_kind kind, const char *body, int n, int dflt,
	       struct result *r)
{
	run(kind, body, 1000, dflt, r);
	if (r->n != n)
		fail_msg("expected %d alerts, got %d (%s) for %s", n, r->n,
			 r->n < 0 ? r->err : "", body);
}

/* Parses body, which must be rejected with exactly want. */
static void bad(enum webhook_kind kind, const char *body, const char *want)
{
	struct result r;

	run(kind, body, 1000, SEV_WARNING, &r);
	if (r.n != -1)
		fail_msg("accepted (%d alerts): %s", r.n, body);
	if (strcmp(r.err, want) != 0)
		fail_msg("error \"%s\", expected \"%s\" for %s", r.err, want,
			 body);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (f == NULL)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

static void fixture(enum webhook_kind kind, const char *name, int dflt,
		    struct result *r)
{
	char path[256];
	size_t len;
	char *body;

	snprintf(path, sizeof(path), FIXTURES "%s", name);
	if ((body = slurp(path, &len)) == NULL)
		fail_msg("cannot read %s (run from the repository root)", path);
	run_n(kind, body, len, 1000, dflt, r);
	free(body);
	if (r->n < 0)
		fail_msg("%s rejected: %s", name, r->err);
}

/* The member name of the parsed meta, as a string (NULL if absent). */
static const char *meta_str(const cJSON *meta, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(meta, name);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

static cJSON *meta_of(const struct alert *a)
{
	cJSON *m;

	assert_non_null(a->meta);
	assert_true(strlen(a->meta) <= ALERT_MAX_META);
	m = cJSON_Parse(a->meta);
	assert_non_null(m);
	assert_true(cJSON_IsObject(m));
	return m;
}

/* Asserts meta's links, given as "name=url" strings in order. */
static void assert_links(const cJSON *meta, const char *const *want,
			 size_t n)
{
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(meta, "links");
	const cJSON *l;
	size_t i = 0;
	char buf[1024];

	if (n == 0) {
		assert_null(links);
		return;
	}
	assert_true(cJSON_IsArray(links));
	assert_int_equal(cJSON_GetArraySize(links), n);
	cJSON_ArrayForEach(l, links) {
		snprintf(buf, sizeof(buf), "%s=%s", meta_str(l, "name"),
			 meta_str(l, "url"));
		assert_string_equal(buf, want[i]);
		i++;
	}
}

static void assert_fresh(const struct alert *a)
{
	assert_int_equal(a->id, 0);
	assert_int_equal(a->received_at, 0);
	assert_int_equal(a->peer_uid, -1);
	assert_int_equal(a->peer_pid, -1);
	assert_int_equal(a->repeats, 0);
}

/* --- Alertmanager --- */

#define AM_URL0 "http://prometheus.example:9090/graph?g0.expr=" \
	"histogram_quantile%280.99%2C+rate%28http_request_duration_seconds" \
	"_bucket%5B5m%5D%29%29+%3E+0.5&g0.tab=1"
#define AM_LABELS0 "{\"alertname\":\"HighRequestLatency\",\"env\":\"prod\"," \
	"\"instance\":\"web1.example:9100\",\"job\":\"node\"," \
	"\"severity\":\"Page\"}"

static void test_am_firing(void **state)
{
	static const char *const links0[] = {
		"runbook=https://runbooks.example/latency"
	};
	struct result r;
	struct alert *a;
	cJSON *m, *labels;
	char *printed;

	(void)state;
	fixture(WEBHOOK_ALERTMANAGER, "alertmanager_v4_firing.json",
		SEV_ERROR, &r);
	assert_int_equal(r.n, 3);

	a = &r.a[0];
	assert_fresh(a);
	assert_int_equal(a->status, ALERT_FIRING);
	assert_int_equal(a->severity, SEV_CRITICAL); /* "Page" */
	assert_string_equal(a->key, "am:6f8b2c1e5d4a3b29");
	assert_string_equal(a->title, "High request latency on web1");
	assert_string_equal(a->text, "p99 latency is 2.3 s on "
			    "web1.example:9100 (threshold 0.5 s) for 10 minutes.");
	assert_string_equal(a->source, "web1.example:9100");
	assert_string_equal(a->url, AM_URL0); /* \u0026 decoded */
	assert_string_equal(a->labels, AM_LABELS0);
	m = meta_of(a);
	assert_string_equal(meta_str(m, "via"), "alertmanager");
	assert_string_equal(meta_str(m, "fingerprint"), "6f8b2c1e5d4a3b29");
	assert_string_equal(meta_str(m, "externalURL"),
			    "http://alertmanager.example:9093");
	assert_string_equal(meta_str(m, "startsAt"),
			    "2024-03-11T08:14:37.702Z");
	assert_null(meta_str(m, "endsAt")); /* Go's zero time */
	labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	printed = cJSON_PrintUnformatted(labels);
	assert_string_equal(printed, AM_LABELS0);
	free(printed);
	assert_links(m, links0, 1);
	cJSON_Delete(m);

	/* No summary: alertname; message when there is no description;
	 * no instance: job. */
	a = &r.a[1];
	assert_int_equal(a->severity, SEV_WARNING); /* "warn" */
	assert_string_equal(a->key, "am:0b1d4e7c2a9f8e61");
	assert_string_equal(a->title, "DiskWillFillIn4Hours");
	assert_string_equal(a->text, "Filesystem /var on /dev/sda1 will be "
			    "full within 4 hours.");
	assert_string_equal(a->source, "node");
	assert_non_null(strstr(a->url, "predict_linear"));
	m = meta_of(a);
	assert_links(m, NULL, 0);
	assert_string_equal(meta_str(m, "startsAt"),
			    "2024-03-11T08:02:07.702Z");
	cJSON_Delete(m);

	/* severity "none": the configured default; no annotations at all;
	 * an empty generatorURL is no url. */
	a = &r.a[2];
	assert_int_equal(a->severity, SEV_ERROR);
	assert_string_equal(a->key, "am:e3c1a5b7d9f20486");
	assert_string_equal(a->title, "Watchdog");
	assert_null(a->text);
	assert_null(a->source);
	assert_null(a->url);
	assert_string_equal(a->labels, "{\"alertname\":\"Watchdog\","
			    "\"prometheus\":\"monitoring/k8s\",\"severity\":\"none\"}");
	result_free(&r);
}

static void test_am_resolved(void **state)
{
	struct result fired, r;
	cJSON *m;

	(void)state;
	fixture(WEBHOOK_ALERTMANAGER, "alertmanager_v4_firing.json",
		SEV_INFO, &fired);
	fixture(WEBHOOK_ALERTMANAGER, "alertmanager_v4_resolved.json",
		SEV_INFO, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.a[0].status, ALERT_RESOLVED);
	/* The resolution carries the key the alert fired with. */
	assert_string_equal(r.a[0].key, fired.a[0].key);
	assert_int_equal(r.a[0].severity, SEV_CRITICAL);
	assert_string_equal(r.a[0].title, fired.a[0].title);
	m = meta_of(&r.a[0]);
	assert_string_equal(meta_str(m, "endsAt"), "2024-03-11T08:41:52.702Z");
	cJSON_Delete(m);
	result_free(&r);
	result_free(&fired);
}

/*
 * Every tests/fixtures/alertmanager_*.json (and grafana_*.json) parses on
 * its endpoint into keyed alerts with meta: this covers, without naming
 * it, a payload captured from the real Alertmanager binary by the
 * integration harness once it is added there.
 */
static void check_fixture_dir(const char *prefix, enum webhook_kind kind,
			      const char *key_prefix)
{
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	struct result r;
	size_t plen = strlen(prefix), n, seen = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (strncmp(e->d_name, prefix, plen) != 0 || n < 5 ||
		    strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		fixture(kind, e->d_name, SEV_WARNING, &r);
		assert_true(r.n > 0);
		for (int i = 0; i < r.n; i++) {
			assert_non_null(r.a[i].key);
			assert_int_equal(strncmp(r.a[i].key, key_prefix,
						 strlen(key_prefix)), 0);
			assert_true(r.a[i].title != NULL ||
				    r.a[i].text != NULL);
			assert_non_null(r.a[i].meta);
		}
		result_free(&r);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
}

static void test_fixture_dir(void **state)
{
	(void)state;
	check_fixture_dir("alertmanager_", WEBHOOK_ALERTMANAGER, "am:");
	check_fixture_dir("grafana_", WEBHOOK_GRAFANA, "grafana:");
}

/* The payloads captured from the real Alertmanager 0.25 binary by the
 * integration harness (tests/integration/test_realpeers.py): a group of
 * two alerts firing, then both resolved. */
static void test_am_real_capture(void **state)
{
	static const char *const links[] = {
		"runbook=https://runbooks.example/disk-full"
	};
	struct result f, r;
	cJSON *m;

	(void)state;
	fixture(WEBHOOK_ALERTMANAGER, "alertmanager_real_firing.json",
		SEV_INFO, &f);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.a[0].status, ALERT_FIRING);
	assert_int_equal(f.a[0].severity, SEV_CRITICAL);
	assert_int_equal(f.a[1].severity, SEV_WARNING);
	assert_string_equal(f.a[0].key, "am:1751650d45bf7d6b");
	assert_string_equal(f.a[1].key, "am:a7cefdeb4102dbc7");
	assert_string_equal(f.a[0].title, "Disk almost full on db1");
	assert_string_equal(f.a[0].text, "/var has 3% left");
	assert_string_equal(f.a[0].source, "db1:9100");
	assert_string_equal(f.a[1].source, "db2:9100");
	assert_string_equal(f.a[0].url, "http://prometheus.example:9090/graph?"
			    "g0.expr=node_filesystem_avail_bytes%20%3C%201e9&g0.tab=1");
	assert_string_equal(f.a[0].labels, "{\"alertname\":\"DiskFull\","
			    "\"instance\":\"db1:9100\",\"job\":\"node\","
			    "\"severity\":\"critical\"}");
	m = meta_of(&f.a[0]);
	assert_string_equal(meta_str(m, "via"), "alertmanager");
	assert_string_equal(meta_str(m, "externalURL"),
			    "http://127.0.0.1:41499");
	assert_string_equal(meta_str(m, "startsAt"), "2026-12-01T14:06:28.491Z");
	assert_null(meta_str(m, "endsAt"));
	assert_links(m, links, 1);
	cJSON_Delete(m);

	fixture(WEBHOOK_ALERTMANAGER, "alertmanager_real_resolved.json",
		SEV_INFO, &r);
	assert_int_equal(r.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r.a[i].status, ALERT_RESOLVED);
		/* Each resolution names the alert it fired as. */
		assert_string_equal(r.a[i].key, f.a[i].key);
		m = meta_of(&r.a[i]);
		assert_string_equal(meta_str(m, "endsAt"),
				    "2026-12-01T14:07:27.998Z");
		cJSON_Delete(m);
	}
	result_free(&r);
	result_free(&f);
}

/* --- Grafana --- */

static void test_grafana_firing(void **state)
{
	static const char *const links0[] = {
		"runbook=https://runbooks.example/memory",
		"dashboard=https://grafana.example/d/mem01?orgId=1",
		"panel=https://grafana.example/d/mem01?orgId=1&viewPanel=4",
		"silence=https://grafana.example/alerting/silence/new?"
		"alertmanager=grafana&matcher=alertname%3DHigh+memory+usage&"
		"matcher=team%3Dblue&matcher=zone%3Deu-1&orgId=1",
	};
	static const char *const links1[] = {
		"silence=https://grafana.example/alerting/silence/new?"
		"alertmanager=grafana&matcher=alertname%3DHigh+CPU+usage&"
		"matcher=team%3Dblue&matcher=zone%3Dus-1&orgId=1",
	};
	struct result r;
	struct alert *a;
	cJSON *m;

	(void)state;
	fixture(WEBHOOK_GRAFANA, "grafana_firing.json", SEV_INFO, &r);
	assert_int_equal(r.n, 2);

	a = &r.a[0];
	assert_fresh(a);
	assert_int_equal(a->status, ALERT_FIRING);
	assert_int_equal(a->severity, SEV_CRITICAL);
	assert_string_equal(a->key, "grafana:c6eadffa33fcdf37");
	assert_string_equal(a->title, "Memory above 90% in zone eu-1");
	assert_string_equal(a->text, "Memory usage is 93% on the eu-1 nodes.");
	assert_null(a->source); /* neither instance nor job */
	/* panelURL first. */
	assert_string_equal(a->url,
			    "https://grafana.example/d/mem01?orgId=1&viewPanel=4");
	assert_string_equal(a->labels, "{\"alertname\":\"High memory usage\","
			    "\"grafana_folder\":\"Infra\",\"severity\":\"critical\","
			    "\"team\":\"blue\",\"zone\":\"eu-1\"}");
	m = meta_of(a);
	assert_string_equal(meta_str(m, "via"), "grafana");
	assert_string_equal(meta_str(m, "fingerprint"), "c6eadffa33fcdf37");
	assert_string_equal(meta_str(m, "externalURL"),
			    "https://grafana.example/");
	assert_string_equal(meta_str(m, "startsAt"),
			    "2024-03-11T09:51:03.157076+01:00");
	assert_null(meta_str(m, "endsAt"));
	assert_links(m, links0, ARRAY_LEN(links0));
	cJSON_Delete(m);

	/* Resolved; empty panel and dashboard URLs: generatorURL. */
	a = &r.a[1];
	assert_int_equal(a->status, ALERT_RESOLVED);
	assert_int_equal(a->severity, SEV_INFO); /* the default */
	assert_string_equal(a->key, "grafana:bc97ff14869b13e3");
	assert_string_equal(a->title, "CPU above 80% in zone us-1");
	assert_null(a->text);
	assert_string_equal(a->url, "https://grafana.example/alerting/"
			    "grafana/e5f6a7b8/view?orgId=1");
	m = meta_of(a);
	assert_string_equal(meta_str(m, "endsAt"),
			    "2024-03-11T09:55:03.157076+01:00");
	assert_links(m, links1, ARRAY_LEN(links1));
	cJSON_Delete(m);
	result_free(&r);
}

/* Grafana's payload is version "1": the Alertmanager endpoint refuses it
 * instead of misreading it. */
static void test_grafana_to_am_endpoint(void **state)
{
	struct result r;
	size_t len;
	char *body = slurp(FIXTURES "grafana_firing.json", &len);

	(void)state;
	assert_non_null(body);
	run_n(WEBHOOK_ALERTMANAGER, body, len, 1000, SEV_INFO, &r);
	free(body);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "version: expected \"4\" (got \"1\")");
}

/* --- mapping rules --- */

/* One Alertmanager alert with the given labels and annotations. */
static void am_one(char *buf, size_t size, const char *labels,
		   const char *ann)
{
	snprintf(buf, size, "{\"version\":\"4\",\"status\":\"firing\","
		 "\"alerts\":[{\"labels\":%s,\"annotations\":%s,"
		 "\"fingerprint\":\"abc\"}]}", labels, ann);
}

static void test_severity_aliases(void **state)
{
	static const struct {
		const char *value;
		int want;
	} cases[] = {
		{ "critical", SEV_CRITICAL }, { "CRITICAL", SEV_CRITICAL },
		{ "page", SEV_CRITICAL }, { "Crit", SEV_CRITICAL },
		{ "fatal", SEV_CRITICAL }, { "emerg", SEV_CRITICAL },
		{ "error", SEV_ERROR }, { "ERR", SEV_ERROR },
		{ "warning", SEV_WARNING }, { "Warn", SEV_WARNING },
		{ "info", SEV_INFO }, { "information", SEV_INFO },
		{ "notice", SEV_INFO }, { "informational", SEV_INFO },
		{ "debug", SEV_DEBUG },
		/* Unknown or empty: the default (here debug, to tell it
		 * apart from every alias). */
		{ "none", SEV_DEBUG }, { "", SEV_DEBUG }, { "high", SEV_DEBUG },
		{ "pager", SEV_DEBUG }, { "warn ", SEV_DEBUG },
	};
	char body[512], labels[128];
	struct result r;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		snprintf(labels, sizeof(labels), "{\"alertname\":\"A\","
			 "\"severity\":\"%s\"}", cases[i].value);
		am_one(body, sizeof(body), labels, "{}");
		ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_DEBUG, &r);
		if ((int)r.a[0].severity != cases[i].want)
			fail_msg("severity \"%s\": got %d, want %d",
				 cases[i].value, (int)r.a[0].severity,
				 cases[i].want);
		result_free(&r);
	}
	/* No severity label: the default; an out-of-range default reads
	 * as warning. */
	am_one(body, sizeof(body), "{\"alertname\":\"A\"}", "{}");
	ok(WEBHOOK_GRAFANA, body, 1, SEV_CRITICAL, &r);
	assert_int_equal(r.a[0].severity, SEV_CRITICAL);
	result_free(&r);
	ok(WEBHOOK_GRAFANA, body, 1, 99, &r);
	assert_int_equal(r.a[0].severity, SEV_WARNING);
	result_free(&r);
	ok(WEBHOOK_GRAFANA, body, 1, -1, &r);
	assert_int_equal(r.a[0].severity, SEV_WARNING);
	result_free(&r);
}

static void test_texts_and_fallbacks(void **state)
{
	char body[1024];
	struct result r;

	(void)state;
	/* Empty summary and description count as absent. */
	am_one(body, sizeof(body), "{\"alertname\":\"A\",\"instance\":\"\","
	       "\"job\":\"j\"}", "{\"summary\":\"\",\"description\":\"\","
	       "\"message\":\"m\"}");
	ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_INFO, &r);
	assert_string_equal(r.a[0].title, "A");
	assert_string_equal(r.a[0].text, "m");
	assert_string_equal(r.a[0].source, "j"); /* empty instance skipped */
	result_free(&r);
	/* Description wins over message; summary over alertname. */
	am_one(body, sizeof(body), "{\"alertname\":\"A\"}",
	       "{\"summary\":\"S\",\"description\":\"D\",\"message\":\"M\"}");
	ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_INFO, &r);
	assert_string_equal(r.a[0].title, "S");
	assert_string_equal(r.a[0].text, "D");
	result_free(&r);
	/* No alertname but a description: text only. */
	am_one(body, sizeof(body), "{\"job\":\"j\"}",
	       "{\"description\":\"D\"}");
	ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_INFO, &r);
	assert_null(r.a[0].title);
	assert_string_equal(r.a[0].text, "D");
	result_free(&r);
	/* No labels member at all: fine with a summary, meta without
	 * labels, alert without labels. */
	snprintf(body, sizeof(body), "{\"status\":\"resolved\",\"alerts\":"
		 "[{\"annotations\":{\"summary\":\"S\"},\"fingerprint\":\"f\"}]}");
	ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_INFO, &r);
	/* The payload's status when the alert has none. */
	assert_int_equal(r.a[0].status, ALERT_RESOLVED);
	assert_null(r.a[0].labels);
	assert_string_equal(r.a[0].meta, "{\"via\":\"alertmanager\","
			    "\"fingerprint\":\"f\"}");
	result_free(&r);
}

/* A string of n copies of the UTF-8 character c. */
static char *repeat(const char *c, size_t n)
{
	size_t k = strlen(c);
	char *s = malloc(n * k + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * k, c, k);
	s[n * k] = '\0';
	return s;
}

static void assert_cut(const char *v, size_t max)
{
	size_t n = strlen(v);

	assert_true(n <= max);
	assert_true(n > max - 8);
	assert_true(utf8_valid(v, n));
	assert_string_equal(v + n - 3, ELLIPSIS);
}

/* Over-long human text is cut, not refused: a long description must not
 * lose the alert. */
static void test_truncation(void **state)
{
	char *summary = repeat("\xc3\xa9", 2000); /* é: 4000 bytes */
	char *desc = repeat("x", ALERT_MAX_TEXT + 100);
	char *inst = repeat("\xe2\x82\xac", 100); /* €: 300 bytes */
	struct buf b;
	struct result r;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"version\":\"4\",\"alerts\":[{"
		"\"status\":\"firing\",\"fingerprint\":\"f\",\"labels\":"
		"{\"instance\":\"%s\"},\"annotations\":{\"summary\":\"%s\","
		"\"description\":\"%s\"}}]}", inst, summary, desc), 0);
	ok(WEBHOOK_ALERTMANAGER, b.data, 1, SEV_INFO, &r);
	assert_cut(r.a[0].title, ALERT_MAX_TITLE);
	assert_cut(r.a[0].text, ALERT_MAX_TEXT);
	assert_cut(r.a[0].source, ALERT_MAX_SOURCE);
	/* The label itself is whole (within ALERT_MAX_LABEL_VALUE). */
	assert_non_null(strstr(r.a[0].labels, inst));
	result_free(&r);
	buf_free(&b);
	free(summary);
	free(desc);
	free(inst);
}

/* More labels than an alert keeps: the first ALERT_MAX_LABELS by name;
 * meta keeps every one. */
static void test_labels_cap(void **state)
{
	struct buf b;
	struct result r;
	cJSON *m, *labels, *kept;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_printf(&b, "{\"alerts\":[{\"status\":\"firing\","
				    "\"fingerprint\":\"f\",\"labels\":{"), 0);
	/* Given in reverse order: l39 .. l00. */
	for (int i = 39; i >= 0; i--)
		assert_int_equal(buf_printf(&b, "\"l%02d\":\"v%d\"%s", i, i,
					    i > 0 ? "," : ""), 0);
	assert_int_equal(buf_printf(&b, "},\"annotations\":{\"summary\":"
				    "\"S\"}}]}"), 0);
	ok(WEBHOOK_GRAFANA, b.data, 1, SEV_INFO, &r);
	kept = cJSON_Parse(r.a[0].labels);
	assert_int_equal(cJSON_GetArraySize(kept), ALERT_MAX_LABELS);
	assert_string_equal(kept->child->string, "l00");
	assert_string_equal(cJSON_GetArrayItem(kept, ALERT_MAX_LABELS - 1)->string,
			    "l31");
	cJSON_Delete(kept);
	m = meta_of(&r.a[0]);
	labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	assert_int_equal(cJSON_GetArraySize(labels), 40);
	assert_string_equal(meta_str(labels, "l39"), "v39");
	cJSON_Delete(m);
	result_free(&r);
	buf_free(&b);
}

/* Links and urls that are not http(s) are dropped, not errors. */
static void test_url_rules(void **state)
{
	const char *body = "{\"version\":\"4\",\"externalURL\":\"ftp://am\","
		"\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\","
		"\"labels\":{\"alertname\":\"A\"},\"annotations\":{"
		"\"runbook_url\":\"javascript:alert(1)\"},"
		"\"generatorURL\":\"javascript:alert(1)\"}]}";
	const char *g = "{\"alerts\":[{\"status\":\"firing\","
		"\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		"\"panelURL\":\"http://\",\"dashboardURL\":\"data:x\","
		"\"generatorURL\":\"https://g.example/x\","
		"\"silenceURL\":\"https://g.example/s y\"}]}";
	struct result r;

	(void)state;
	ok(WEBHOOK_ALERTMANAGER, body, 1, SEV_INFO, &r);
	assert_null(r.a[0].url);
	assert_string_equal(r.a[0].meta, "{\"via\":\"alertmanager\","
			    "\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"}}");
	result_free(&r);
	ok(WEBHOOK_GRAFANA, g, 1, SEV_INFO, &r);
	assert_string_equal(r.a[0].url, "https://g.example/x");
	assert_null(strstr(r.a[0].meta, "links"));
	result_free(&r);
}

/* --- errors: all or nothing, "[i] field" --- */

#define GOOD "{\"status\":\"firing\",\"fingerprint\":\"g\"," \
	"\"labels\":{\"alertname\":\"ok\"}}"

static void bad_alert(enum webhook_kind kind, const char *alert,
		      const char *want)
{
	char body[4096];

	snprintf(body, sizeof(body), "{\"status\":\"firing\",\"alerts\":"
		 "[" GOOD ",%s," GOOD "]}", alert);
	bad(kind, body, want);
}

static void test_alert_errors(void **state)
{
	static const struct {
		const char *alert, *want;
	} cases[] = {
		{ "{\"fingerprint\":\"f\",\"labels\":{\"env\":1}}",
		  "[1] labels.env: expected a string" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"env\":\"a\\u0000b\"}}",
		  "[1] labels.env: contains a NUL character" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"a\\u0000\":\"x\"}}",
		  "[1] labels: a label name contains a NUL character" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"env\":\"a\","
		  "\"env\":\"b\"}}", "[1] labels.env: given more than once" },
		{ "{\"fingerprint\":\"f\",\"labels\":[]}",
		  "[1] labels: expected an object (got an array)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"\":\"x\"}}",
		  "[1] labels: empty label name" },
		{ "{\"labels\":{\"alertname\":\"A\"}}",
		  "[1] fingerprint: required" },
		{ "{\"fingerprint\":\"\",\"labels\":{\"alertname\":\"A\"}}",
		  "[1] fingerprint: required" },
		{ "{\"fingerprint\":7,\"labels\":{\"alertname\":\"A\"}}",
		  "[1] fingerprint: expected a string (got a number)" },
		{ "{\"fingerprint\":\"a b\",\"labels\":{\"alertname\":\"A\"}}",
		  "[1] fingerprint: contains a space or a non-ASCII character" },
		{ "{\"status\":\"pending\",\"fingerprint\":\"f\","
		  "\"labels\":{\"alertname\":\"A\"}}",
		  "[1] status: unknown value \"pending\" (expected firing or"
		  " resolved)" },
		{ "{\"status\":true,\"fingerprint\":\"f\","
		  "\"labels\":{\"alertname\":\"A\"}}",
		  "[1] status: expected a string (got a boolean)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"job\":\"j\"}}",
		  "[1] labels.alertname: required (or annotations.summary)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		  "\"annotations\":{\"summary\":5}}",
		  "[1] annotations.summary: expected a string (got a number)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		  "\"annotations\":{\"description\":\"x\\u0000\"}}",
		  "[1] annotations.description: contains a NUL character" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		  "\"annotations\":\"x\"}",
		  "[1] annotations: expected an object (got a string)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		  "\"startsAt\":1}",
		  "[1] startsAt: expected a string (got a number)" },
		{ "{\"fingerprint\":\"f\",\"labels\":{\"alertname\":\"A\"},"
		  "\"generatorURL\":[]}",
		  "[1] generatorURL: expected a string (got an array)" },
		{ "\"alert\"", "[1] alert: expected an object (got a string)" },
		{ "null", "[1] alert: expected an object (got null)" },
	};
	/* The status of the payload does not hide a missing one here. */
	char body[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		bad_alert(WEBHOOK_ALERTMANAGER, cases[i].alert, cases[i].want);
		bad_alert(WEBHOOK_GRAFANA, cases[i].alert, cases[i].want);
	}
	snprintf(body, sizeof(body), "{\"alerts\":[" GOOD ",{\"fingerprint\":"
		 "\"f\",\"labels\":{\"alertname\":\"A\"}}]}");
	bad(WEBHOOK_ALERTMANAGER, body, "[1] status: required");
	/* Grafana's own URLs are checked only on its endpoint. */
	bad_alert(WEBHOOK_GRAFANA, "{\"fingerprint\":\"f\",\"labels\":"
		  "{\"alertname\":\"A\"},\"panelURL\":1}",
		  "[1] panelURL: expected a string (got a number)");
}

/* Label limits are the socket's, plus WEBHOOK_MAX_LABELS per alert. */
static void test_label_limits(void **state)
{
	char *longv = repeat("v", ALERT_MAX_LABEL_VALUE + 1);
	char *longn = repeat("n", ALERT_MAX_LABEL_NAME + 1);
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_printf(&b, "{\"fingerprint\":\"f\",\"labels\":"
				    "{\"alertname\":\"A\",\"env\":\"%s\"}}",
				    longv), 0);
	bad_alert(WEBHOOK_ALERTMANAGER, b.data,
		  "[1] labels.env: longer than 512 bytes");
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "{\"fingerprint\":\"f\",\"labels\":"
				    "{\"%s\":\"x\"}}", longn), 0);
	/* The name is echoed cut to 32 bytes, as on the socket. */
	bad_alert(WEBHOOK_ALERTMANAGER, b.data, "[1] labels."
		  "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...: label name longer than"
		  " 64 bytes");
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "{\"fingerprint\":\"f\",\"labels\":{"),
			 0);
	for (int i = 0; i <= WEBHOOK_MAX_LABELS; i++)
		assert_int_equal(buf_printf(&b, "\"l%d\":\"v\"%s", i,
					    i < WEBHOOK_MAX_LABELS ? "," : ""),
				 0);
	assert_int_equal(buf_printf(&b, "}}"), 0);
	bad_alert(WEBHOOK_GRAFANA, b.data, "[1] labels: more than 64 entries");
	buf_free(&b);
	free(longv);
	free(longn);
}

static void test_payload_errors(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "not json", "body: not valid JSON (near byte 0)" },
		{ "{\"alerts\":[}", "body: not valid JSON (near byte 11)" },
		{ "", "body: empty (expected JSON)" },
		{ " \r\n", "body: empty (expected JSON)" },
		{ "[]", "body: expected a JSON object (got an array)" },
		{ "\"x\"", "body: expected a JSON object (got a string)" },
		{ "{}", "alerts: required" },
		{ "{\"alerts\":null}", "alerts: required" },
		{ "{\"alerts\":{}}", "alerts: expected an array (got an object)" },
		{ "{\"alerts\":[]} x",
		  "body: unexpected data after the JSON value at byte 14" },
		{ "{\"alerts\":[],\"status\":1}",
		  "status: expected a string (got a number)" },
		{ "{\"alerts\":[],\"externalURL\":{}}",
		  "externalURL: expected a string (got an object)" },
		{ "{\"alerts\":[\"\\ud800\"]}",
		  "body: unpaired UTF-16 surrogate escape at byte 12" },
		{ "{\"alerts\":[\"\\u12\"]}",
		  "body: invalid \\u escape at byte 12" },
	};
	struct result r;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		bad(WEBHOOK_ALERTMANAGER, cases[i].body, cases[i].want);
		bad(WEBHOOK_GRAFANA, cases[i].body, cases[i].want);
	}
	bad(WEBHOOK_ALERTMANAGER, "{\"version\":\"3\",\"alerts\":[]}",
	    "version: expected \"4\" (got \"3\")");
	bad(WEBHOOK_ALERTMANAGER, "{\"version\":4,\"alerts\":[]}",
	    "version: expected a string (got a number)");
	/* Grafana's version is not checked; no alerts is no error. */
	ok(WEBHOOK_GRAFANA, "{\"version\":\"7\",\"alerts\":[]}", 0, SEV_INFO,
	   &r);
	ok(WEBHOOK_ALERTMANAGER, "{\"alerts\":[]}", 0, SEV_INFO, &r);
	/* A raw NUL byte. */
	run_n(WEBHOOK_ALERTMANAGER, "{\"alerts\":[]}\0", 14, 10, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "body: contains a NUL byte at byte 13");
	/* A NULL body is an empty one. */
	run_n(WEBHOOK_GENERIC, NULL, 0, 10, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "body: empty (expected JSON)");
}

static void test_invalid_utf8(void **state)
{
	static const enum webhook_kind kinds[] = {
		WEBHOOK_GENERIC, WEBHOOK_ALERTMANAGER, WEBHOOK_GRAFANA
	};
	/* A stray continuation byte, an overlong '/', a surrogate. */
	static const char *const bodies[] = {
		"{\"alerts\":[{\"labels\":{\"a\":\"\x80\"}}]}",
		"{\"alerts\":[{\"labels\":{\"a\":\"\xc0\xaf\"}}]}",
		"{\"alerts\":[{\"labels\":{\"a\":\"\xed\xa0\x80\"}}]}",
	};
	struct result r;

	(void)state;
	for (size_t k = 0; k < ARRAY_LEN(kinds); k++)
		for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
			run(kinds[k], bodies[i], 10, SEV_INFO, &r);
			assert_int_equal(r.n, -1);
			assert_string_equal(r.err,
					    "body: invalid UTF-8 at byte 27");
		}
}

/* --- limits and bombs --- */

static void test_max_alerts(void **state)
{
	const char *two = "{\"status\":\"firing\",\"alerts\":[" GOOD "," GOOD
		"]}";
	const char *three = "{\"status\":\"firing\",\"alerts\":[" GOOD ","
		GOOD "," GOOD "]}";
	const char *gen3 = "[{\"text\":\"a\"},{\"text\":\"b\"},{\"text\":\"c\"}]";
	struct result r;

	(void)state;
	run(WEBHOOK_ALERTMANAGER, two, 2, SEV_INFO, &r);
	assert_int_equal(r.n, 2);
	result_free(&r);
	run(WEBHOOK_ALERTMANAGER, three, 2, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "alerts: more than 2 alerts");
	run(WEBHOOK_GRAFANA, three, 2, SEV_INFO, &r);
	assert_string_equal(r.err, "alerts: more than 2 alerts");
	run(WEBHOOK_GENERIC, gen3, 2, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "body: more than 2 alerts");
	run(WEBHOOK_GENERIC, gen3, 3, SEV_INFO, &r);
	assert_int_equal(r.n, 3);
	result_free(&r);
	/* max_alerts 0 refuses any alert but takes an empty batch. */
	run(WEBHOOK_GENERIC, "{\"text\":\"a\"}", 0, SEV_INFO, &r);
	assert_string_equal(r.err, "body: more than 0 alerts");
	run(WEBHOOK_GENERIC, "[]", 0, SEV_INFO, &r);
	assert_int_equal(r.n, 0);
}

/* n opening brackets, then n closing ones, inside an unused member. */
static char *nested(const char *open, const char *close, size_t n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"alerts\":[],\"x\":"), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "%s", open), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "%s", close), 0);
	assert_int_equal(buf_printf(&b, "}"), 0);
	return b.data;
}

static void test_bombs(void **state)
{
	char *deep_ok = nested("[", "]", WEBHOOK_MAX_DEPTH - 1);
	char *deep = nested("[", "]", WEBHOOK_MAX_DEPTH);
	char *deep_obj = nested("{\"a\":", "}", 5000);
	char *in_string;
	struct buf b;
	struct result r;
	size_t limit = WEBHOOK_VALUES_BASE + 10 * WEBHOOK_VALUES_PER_ALERT;

	(void)state;
	/* The top-level object is one level: 31 more fit, 32 do not. */
	run(WEBHOOK_ALERTMANAGER, deep_ok, 10, SEV_INFO, &r);
	assert_int_equal(r.n, 0);
	run(WEBHOOK_ALERTMANAGER, deep, 10, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "body: nested deeper than 32 levels");
	run(WEBHOOK_GENERIC, deep_obj, 10, SEV_INFO, &r);
	assert_string_equal(r.err, "body: nested deeper than 32 levels");

	/* Brackets inside strings (even after an escaped quote) are text. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"alerts\":[],\"x\":\"\\\""), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(buf_printf(&b, "[{,"), 0);
	assert_int_equal(buf_printf(&b, "\"}"), 0);
	in_string = b.data;
	run(WEBHOOK_GRAFANA, in_string, 10, SEV_INFO, &r);
	assert_int_equal(r.n, 0);

	/* A huge array of tiny values: refused before cJSON builds it. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"alerts\":[],\"x\":["), 0);
	for (size_t i = 0; i < limit; i++)
		assert_int_equal(buf_printf(&b, "0,"), 0);
	assert_int_equal(buf_printf(&b, "0]}"), 0);
	run(WEBHOOK_ALERTMANAGER, b.data, 10, SEV_INFO, &r);
	assert_int_equal(r.n, -1);
	assert_string_equal(r.err, "body: more than 3584 JSON values");
	/* The same with a higher max_alerts fits. */
	run(WEBHOOK_ALERTMANAGER, b.data, 20, SEV_INFO, &r);
	assert_int_equal(r.n, 0);
	buf_free(&b);
	/* A generic array of many empty objects counts too. */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "["), 0);
	for (size_t i = 0; i < limit; i++)
		assert_int_equal(buf_printf(&b, "{},"), 0);
	assert_int_equal(buf_printf(&b, "{}]"), 0);
	run(WEBHOOK_GENERIC, b.data, 10, SEV_INFO, &r);
	assert_string_equal(r.err, "body: more than 3584 JSON values");
	buf_free(&b);

	free(deep_ok);
	free(deep);
	free(deep_obj);
	free(in_string);
}

/* --- generic --- */

static void test_generic(void **state)
{
	struct result r;

	(void)state;
	/* One object: the socket's fields and defaults (info, not the
	 * webhook default). */
	ok(WEBHOOK_GENERIC, "{\"text\":\"disk full\",\"source\":\"db1\","
	   "\"labels\":{\"env\":\"prod\"},\"key\":\"db1/disk\"}", 1,
	   SEV_CRITICAL, &r);
	assert_fresh(&r.a[0]);
	assert_int_equal(r.a[0].severity, SEV_INFO);
	assert_int_equal(r.a[0].status, ALERT_FIRING);
	assert_string_equal(r.a[0].text, "disk full");
	assert_string_equal(r.a[0].source, "db1");
	assert_string_equal(r.a[0].key, "db1/disk");
	assert_string_equal(r.a[0].labels, "{\"env\":\"prod\"}");
	assert_null(r.a[0].meta);
	result_free(&r);

	ok(WEBHOOK_GENERIC, " [{\"title\":\"a\",\"severity\":\"Critical\"},"
	   "{\"text\":\"b\",\"status\":\"resolved\",\"key\":\"k\"}]\n", 2,
	   SEV_INFO, &r);
	assert_string_equal(r.a[0].title, "a");
	assert_int_equal(r.a[0].severity, SEV_CRITICAL);
	assert_int_equal(r.a[1].status, ALERT_RESOLVED);
	assert_string_equal(r.a[1].key, "k");
	result_free(&r);

	ok(WEBHOOK_GENERIC, "[]", 0, SEV_INFO, &r);

	/* All or nothing, with the socket's messages behind the index. */
	bad(WEBHOOK_GENERIC, "{\"severity\":\"loud\",\"text\":\"x\"}",
	    "[0] severity: unknown value \"loud\" (expected critical, error,"
	    " warning, info, debug)");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\"},{\"title\":\"\"},"
	    "{\"text\":\"c\"}]", "[1] text: required (or title)");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\"},{\"text\":\"b\","
	    "\"status\":\"resolved\"}]",
	    "[1] key: required when status is resolved");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\"},7]",
	    "[1] alert: expected a JSON object (got a number)");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\\u0000b\"}]",
	    "[0] text: contains a NUL character");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\",\"url\":\"ftp://x\"}]",
	    "[0] url: must start with http:// or https://");
	bad(WEBHOOK_GENERIC, "42", "body: expected an alert object or an"
	    " array of them (got a number)");
	bad(WEBHOOK_GENERIC, "[{\"text\":\"a\"}", "body: not valid JSON (near"
	    " byte 12)");
}

/* alert_from_json on a parsed body decides exactly as alert_parse on the
 * same bytes as a socket line: same verdict, same field error, same
 * fields. */
static void test_from_json_matches_socket(void **state)
{
	static const char *const lines[] = {
		"{\"text\":\"x\",\"severity\":\"WARNING\",\"labels\":{\"a\":\"b\"}}",
		"{\"title\":\"t\",\"status\":\"resolved\",\"key\":\"k\","
		"\"url\":\"https://x.example/\",\"source\":\"\"}",
		"{\"text\":\"x\",\"labels\":{\"a\":1}}",
		"{\"text\":\"x\",\"text\":\"y\"}",
		"{\"text\":\"\\u0000\"}",
		"{\"t\\u0000\":1,\"text\":\"x\"}",
		"{\"text\":\"x\",\"url\":\"http:///\"}",
		"{\"title\":\"\",\"text\":null}",
		"{\"text\":\"x\",\"key\":\"\"}",
	};
	struct alert a, b;
	char e1[256], e2[256];
	cJSON *root;
	int r1, r2;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
		r1 = alert_parse(lines[i], strlen(lines[i]), &a, e1, sizeof(e1));
		assert_int_equal(alert_json_parse(lines[i], strlen(lines[i]),
						  &root, e2, sizeof(e2)), 0);
		r2 = alert_from_json(root, &b, e2, sizeof(e2));
		cJSON_Delete(root);
		assert_int_equal(r1, r2);
		if (r1 != 0) {
			assert_string_equal(e1, e2);
			continue;
		}
		assert_int_equal(a.severity, b.severity);
		assert_int_equal(a.status, b.status);
		assert_int_equal(a.peer_uid, b.peer_uid);
		assert_true((a.title == NULL) == (b.title == NULL));
		assert_true((a.source == NULL) == (b.source == NULL));
		if (a.labels != NULL)
			assert_string_equal(a.labels, b.labels);
		if (a.url != NULL)
			assert_string_equal(a.url, b.url);
		alert_free(&a);
		alert_free(&b);
	}
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(webhook_kind_name(WEBHOOK_GENERIC), "generic");
	assert_string_equal(webhook_kind_name(WEBHOOK_ALERTMANAGER),
			    "alertmanager");
	assert_string_equal(webhook_kind_name(WEBHOOK_GRAFANA), "grafana");
	assert_string_equal(webhook_kind_name((enum webhook_kind)7), "unknown");
}

/* A truncated error buffer still terminates; errlen 0 is allowed. */
static void test_small_err_buffer(void **state)
{
	struct webhook_opts o = { SEV_INFO, 10 };
	struct alert *a = NULL;
	char err[8];

	(void)state;
	assert_int_equal(webhook_parse(WEBHOOK_GENERIC, "x", 1, &o, &a, err,
				       sizeof(err)), -1);
	assert_string_equal(err, "body: n");
	assert_int_equal(webhook_parse(WEBHOOK_GENERIC, "x", 1, &o, &a, NULL,
				       0), -1);
	assert_null(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_am_firing),
		cmocka_unit_test(test_am_resolved),
		cmocka_unit_test(test_fixture_dir),
		cmocka_unit_test(test_am_real_capture),
		cmocka_unit_test(test_grafana_firing),
		cmocka_unit_test(test_grafana_to_am_endpoint),
		cmocka_unit_test(test_severity_aliases),
		cmocka_unit_test(test_texts_and_fallbacks),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_labels_cap),
		cmocka_unit_test(test_url_rules),
		cmocka_unit_test(test_alert_errors),
		cmocka_unit_test(test_label_limits),
		cmocka_unit_test(test_payload_errors),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_max_alerts),
		cmocka_unit_test(test_bombs),
		cmocka_unit_test(test_generic),
		cmocka_unit_test(test_from_json_matches_socket),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_small_err_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
