/*
 * test_relay.c - unit tests for bot/relay.c (relay mode): the mapping of
 * an alert to Alertmanager's form, the per-peer cursors in a real store,
 * only committed alerts posted, batches, backoff and the breaker per
 * peer (one peer down never delays another), a refused alert found and
 * skipped, re-posts of firing keys, a failed commit, and the status.
 *
 * The transfers (xfer.h) are faked: each POST is recorded and the test
 * answers it as xfer_harvest would. The clock is injected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alerts/store.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "bot/rng.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/amclient.c"
#include "bot/relay.c"

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */
#define MONO0 1000000LL
#define MAX_REC 256
#define AM1 "http://am1:9093"
#define AM2 "http://am2:9093"

/* --- fake transfers --- */

struct rec_xfer {
	char url[600];
	char *body;
	xfer_done_fn fn;
	void *arg;
	int done;
};

static struct {
	struct rec_xfer x[MAX_REC];
	size_t nx;
} rec;

static void rec_clear(void)
{
	for (size_t i = 0; i < rec.nx; i++)
		free(rec.x[i].body);
	memset(&rec, 0, sizeof(rec));
}

int xfer_start(struct xfer *x, struct xfer_req *req, xfer_done_fn fn,
	       void *arg)
{
	struct rec_xfer *r;

	assert_true(rec.nx < MAX_REC);
	r = &rec.x[rec.nx++];
	str_copy(r->url, req->url, sizeof(r->url));
	r->body = req->body;
	req->body = NULL;
	r->fn = fn;
	r->arg = arg;
	return 0;
}

static void answer(size_t i, int curl_code, long status)
{
	struct xfer_result res = {
		.curl_code = curl_code,
		.error = curl_code ? "Couldn't connect to server" : "",
		.http_status = status,
		.body = status == 400 ? "bad alert" : "",
		.len = status == 400 ? 9 : 0,
	};

	assert_true(i < rec.nx);
	assert_false(rec.x[i].done);
	rec.x[i].done = 1;
	rec.x[i].fn(rec.x[i].arg, &res);
}

/* Index of the one unanswered request to url; fails if not exactly one. */
static size_t pending(const char *url)
{
	size_t found = SIZE_MAX;

	for (size_t i = 0; i < rec.nx; i++)
		if (!rec.x[i].done && strncmp(rec.x[i].url, url,
					      strlen(url)) == 0) {
			assert_int_equal(found, SIZE_MAX);
			found = i;
		}
	assert_true(found != SIZE_MAX);
	return found;
}

static int npending(const char *url)
{
	int n = 0;

	for (size_t i = 0; i < rec.nx; i++)
		n += !rec.x[i].done && strncmp(rec.x[i].url, url,
					       strlen(url)) == 0;
	return n;
}

/* The posted alerts of request i. Caller deletes. */
static cJSON *posted(size_t i)
{
	cJSON *a = cJSON_Parse(rec.x[i].body);

	assert_true(cJSON_IsArray(a));
	return a;
}

static const char *label_of(const cJSON *am, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(am, "labels"),
					     name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct rng rng;
	struct store *st;
	struct relay *r;
};

static void relay_open(struct fx *f)
{
	struct relay_deps d = {
		.cfg = &f->cfg, .clk = &f->clk, .store = f->st,
		.xfer = (struct xfer *)&rec, .rng = &f->rng,
	};
	char err[256];

	f->r = relay_new(&d, err, sizeof(err));
	assert_non_null(f->r);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	rec_clear();
	strcpy(f->dir, "/tmp/opsbot-relay-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->st, f->path, T0, err, sizeof(err)) != 0)
		return -1;
	memset(&f->cfg, 0, sizeof(f->cfg));
	str_copy(f->cfg.relay_peers[0], AM1, sizeof(f->cfg.relay_peers[0]));
	str_copy(f->cfg.relay_peers[1], AM2, sizeof(f->cfg.relay_peers[1]));
	f->cfg.relay_npeers = 2;
	str_copy(f->cfg.relay_host, "web7", sizeof(f->cfg.relay_host));
	f->cfg.relay_repost_interval = 60;
	f->cfg.relay_batch = 4;
	f->cfg.relay_connect_timeout = 3;
	f->cfg.relay_timeout = 10;
	f->cfg.retry_base = 1;
	f->cfg.retry_cap = 300;
	f->cfg.breaker_threshold = 3;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rng_seed(&f->rng, 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	relay_free(f->r);
	store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	rec_clear();
	return 0;
}

/* Stores an alert as intake would (no deliveries: a relay has no chats)
 * and commits it. repeat_of: the original of a repeat, else 0. */
static int64_t add(struct fx *f, const char *key, const char *title,
		   int resolved, int64_t repeat_of)
{
	struct alert a = { .received_at = f->clk.wall,
			   .severity = SEV_ERROR, .peer_uid = -1,
			   .peer_pid = -1 };

	a.status = resolved ? ALERT_RESOLVED : ALERT_FIRING;
	a.key = key ? strdup(key) : NULL;
	a.title = title ? strdup(title) : NULL;
	a.text = strdup("some text");
	a.source = strdup("db1");
	a.labels = strdup("{\"env\":\"prod\",\"bad-name\":\"x\"}");
	assert_int_equal(store_alert_insert(f->st, &a, NULL, 0, DS_PENDING,
					    repeat_of), 0);
	assert_int_equal(store_commit(f->st), 0);
	alert_free(&a);
	return sqlite3_last_insert_rowid(f->st->db);
}

/* One turn of the loop: handle, commit, committed. */
static void turn(struct fx *f)
{
	relay_run(f->r);
	relay_committed(f->r, store_commit(f->st) == 0);
}

static int64_t kv_cursor(struct fx *f, const char *url)
{
	char k[600], v[32];

	snprintf(k, sizeof(k), RELAY_KV_PREFIX "%s", url);
	return store_kv_get(f->st, k, v, sizeof(v)) == 1 ?
	       strtoll(v, NULL, 10) : 0;
}

/* --- tests --- */

static void test_mapping(void **state)
{
	struct alert a = { .id = 9, .received_at = T0 + 5,
			   .severity = SEV_CRITICAL, .status = ALERT_FIRING };
	struct alert res = a;
	cJSON *arr = cJSON_CreateArray(), *o;
	char big[RELAY_MAX_DESCRIPTION + 100];

	(void)state;
	a.key = (char *)"db1/repl-lag";
	a.title = (char *)"Replication lag";
	a.text = (char *)"lag 120 s";
	a.source = (char *)"db1";
	a.url = (char *)"https://grafana.example/d/abc";
	a.labels = (char *)"{\"env\":\"prod\",\"9x\":\"y\",\"host\":\"spoof\"}";
	assert_int_equal(relay_alert_json(&a, NULL, "web7", arr), 0);
	o = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(label_of(o, "alertname"), "db1/repl-lag");
	assert_string_equal(label_of(o, "severity"), "critical");
	assert_string_equal(label_of(o, "instance"), "db1");
	assert_string_equal(label_of(o, "host"), "web7"); /* mapped wins */
	assert_string_equal(label_of(o, "env"), "prod");
	assert_string_equal(label_of(o, "_9x"), "y");
	assert_null(label_of(o, "opsbot_oneshot"));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
			    "annotations"), "summary")->valuestring,
			    "Replication lag");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
			    "annotations"), "description")->valuestring,
			    "lag 120 s");
	assert_string_equal(cJSON_GetObjectItem(o, "generatorURL")->valuestring,
			    "https://grafana.example/d/abc");
	assert_string_equal(cJSON_GetObjectItem(o, "startsAt")->valuestring,
			    "2023-11-14T22:13:20.005Z");
	assert_null(cJSON_GetObjectItem(o, "endsAt"));

	/* a resolution: the firing's labels and startsAt, its own end */
	res.id = 12;
	res.status = ALERT_RESOLVED;
	res.severity = SEV_INFO; /* a resolution's own severity is ignored */
	res.key = a.key;
	res.received_at = T0 + 60000;
	res.text = (char *)"back to 0 s";
	assert_int_equal(relay_alert_json(&res, &a, "web7", arr), 0);
	o = cJSON_GetArrayItem(arr, 1);
	assert_string_equal(label_of(o, "severity"), "critical");
	assert_string_equal(label_of(o, "instance"), "db1");
	assert_string_equal(cJSON_GetObjectItem(o, "startsAt")->valuestring,
			    "2023-11-14T22:13:20.005Z");
	assert_string_equal(cJSON_GetObjectItem(o, "endsAt")->valuestring,
			    "2023-11-14T22:14:20.000Z");

	/* a one-shot: its own identity; a long text is cut */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	a.key = NULL;
	a.text = big;
	a.labels = NULL;
	a.source = NULL;
	assert_int_equal(relay_alert_json(&a, NULL, "web7", arr), 0);
	o = cJSON_GetArrayItem(arr, 2);
	assert_string_equal(label_of(o, "alertname"), "Replication lag");
	assert_string_equal(label_of(o, "opsbot_oneshot"), "9");
	assert_null(label_of(o, "instance"));
	assert_int_equal(strlen(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
			 "annotations"), "description")->valuestring),
			 RELAY_MAX_DESCRIPTION);
	cJSON_Delete(arr);
}

static void test_every_peer_gets_every_alert_in_order(void **state)
{
	struct fx *f = *state;
	cJSON *a;
	size_t i;

	for (int k = 0; k < 6; k++)
		add(f, NULL, "one shot", 0, 0);
	relay_open(f);
	assert_int_equal(relay_next(f->r), f->clk.now);
	turn(f);
	/* one POST per peer, batch 4, oldest first */
	assert_int_equal(npending(AM1), 1);
	assert_int_equal(npending(AM2), 1);
	i = pending(AM1);
	assert_string_equal(rec.x[i].url, AM1 "/api/v2/alerts");
	a = posted(i);
	assert_int_equal(cJSON_GetArraySize(a), 4);
	assert_string_equal(label_of(cJSON_GetArrayItem(a, 0),
				     "opsbot_oneshot"), "1");
	cJSON_Delete(a);
	assert_int_equal(relay_inflight(f->r), 2);
	assert_int_equal(relay_next(f->r), INT64_MAX); /* both busy */
	answer(i, 0, 200);
	turn(f);
	assert_int_equal(kv_cursor(f, AM1), 4);
	/* the next batch to am1 at once; am2 has not answered yet */
	i = pending(AM1);
	a = posted(i);
	assert_int_equal(cJSON_GetArraySize(a), 2);
	assert_string_equal(label_of(cJSON_GetArrayItem(a, 0),
				     "opsbot_oneshot"), "5");
	cJSON_Delete(a);
	answer(i, 0, 200);
	answer(pending(AM2), 0, 200);
	turn(f);
	answer(pending(AM2), 0, 200);
	turn(f);
	assert_int_equal(kv_cursor(f, AM1), 6);
	assert_int_equal(kv_cursor(f, AM2), 6);
	assert_int_equal(npending(AM1) + npending(AM2), 0);
}

static void test_peer_down_never_delays_the_other(void **state)
{
	struct fx *f = *state;
	struct relay_peer_info pi;
	int64_t until;

	add(f, NULL, "a", 0, 0);
	relay_open(f);
	turn(f);
	answer(pending(AM2), 7, 0); /* am2 refuses connections */
	answer(pending(AM1), 0, 200);
	turn(f);
	relay_peer_info(f->r, 1, &pi);
	assert_string_equal(pi.state, "retrying");
	assert_int_equal(pi.queue, 1);
	assert_string_equal(pi.last_error, AM2 ": Couldn't connect to server");
	/* new alerts go to am1 at once; am2 waits for its backoff */
	add(f, NULL, "b", 0, 0);
	relay_committed(f->r, 1);
	assert_int_equal(relay_next(f->r), f->clk.now);
	turn(f);
	assert_int_equal(npending(AM1), 1);
	assert_int_equal(npending(AM2), 0);
	answer(pending(AM1), 0, 200);
	/* am2 fails three times: its breaker opens, it is "down" */
	for (int k = 0; k < 2; k++) {
		until = relay_next(f->r);
		assert_true(until > f->clk.now);
		assert_true(until <= f->clk.now + 100 + 300000);
		f->clk.now = until;
		turn(f);
		answer(pending(AM2), 0, 503);
	}
	relay_peer_info(f->r, 1, &pi);
	assert_string_equal(pi.state, "down");
	assert_int_equal(pi.breaker_open, 1);
	assert_int_equal(pi.failures, 3);
	assert_int_equal(kv_cursor(f, AM1), 2);
	assert_int_equal(kv_cursor(f, AM2), 0);
	/* back: its backlog, and it is ok again */
	f->clk.now = relay_next(f->r);
	turn(f);
	{
		cJSON *a = posted(pending(AM2));

		assert_int_equal(cJSON_GetArraySize(a), 2);
		cJSON_Delete(a);
	}
	answer(pending(AM2), 0, 200);
	turn(f);
	relay_peer_info(f->r, 1, &pi);
	assert_string_equal(pi.state, "ok");
	assert_int_equal(pi.queue, 0);
	assert_int_equal(pi.posted, 2);
	assert_int_equal(kv_cursor(f, AM2), 2);
}

static void test_only_committed_alerts_and_failed_commit(void **state)
{
	struct fx *f = *state;
	struct alert a = { .received_at = T0, .severity = SEV_ERROR,
			   .peer_uid = -1, .peer_pid = -1 };

	relay_open(f);
	turn(f);
	assert_int_equal(rec.nx, 0);
	/* inserted in this turn, not committed yet: not posted */
	a.title = strdup("uncommitted");
	assert_int_equal(store_alert_insert(f->st, &a, NULL, 0, DS_PENDING,
					    0), 0);
	alert_free(&a);
	relay_run(f->r);
	assert_int_equal(rec.nx, 0);
	relay_committed(f->r, store_commit(f->st) == 0);
	turn(f);
	assert_int_equal(npending(AM1), 1);
	/* the answer's cursor move is lost with its turn's commit */
	answer(pending(AM1), 0, 200);
	store_rollback(f->st);
	relay_committed(f->r, 0);
	assert_int_equal(kv_cursor(f, AM1), 0);
	turn(f);
	assert_int_equal(npending(AM1), 1); /* posted again */
	answer(pending(AM1), 0, 200);
	answer(pending(AM2), 0, 200);
	turn(f);
	/* a restart reads the cursors back: nothing to post again (a
	 * one-shot is never re-posted) */
	relay_free(f->r);
	rec_clear();
	relay_open(f);
	turn(f);
	assert_int_equal(npending(AM1) + npending(AM2), 0);
	{
		struct relay_peer_info pi;

		relay_peer_info(f->r, 1, &pi);
		assert_int_equal(pi.cursor, 1);
		assert_int_equal(pi.queue, 0);
	}
}

static void test_refused_alert_is_found_and_skipped(void **state)
{
	struct fx *f = *state;
	struct relay_peer_info pi;
	cJSON *a;

	for (int k = 0; k < 4; k++)
		add(f, NULL, "x", 0, 0);
	f->cfg.relay_npeers = 1;
	relay_open(f);
	turn(f);
	answer(pending(AM1), 0, 400); /* 4 -> 2 */
	turn(f);
	a = posted(pending(AM1));
	assert_int_equal(cJSON_GetArraySize(a), 2);
	cJSON_Delete(a);
	answer(pending(AM1), 0, 400); /* 2 -> 1 */
	turn(f);
	answer(pending(AM1), 0, 400); /* alone: skipped */
	turn(f);
	relay_peer_info(f->r, 0, &pi);
	assert_int_equal(pi.dropped, 1);
	assert_int_equal(pi.cursor, 1);
	assert_string_equal(pi.last_error, AM1 ": HTTP 400 bad alert");
	assert_string_equal(pi.state, "ok"); /* a refusal is an answer */
	a = posted(pending(AM1));
	assert_string_equal(label_of(cJSON_GetArrayItem(a, 0),
				     "opsbot_oneshot"), "2");
	cJSON_Delete(a);
	answer(pending(AM1), 0, 200);
	turn(f);
	answer(pending(AM1), 0, 200); /* the batch grows back: 2, then 4 */
	turn(f);
	assert_int_equal(kv_cursor(f, AM1), 4);
}

static void test_reposts_keep_firing_keys_alive(void **state)
{
	struct fx *f = *state;
	int64_t k1, k2;
	cJSON *a;
	size_t i;

	k1 = add(f, "db1/disk", "Disk full", 0, 0);
	add(f, "db1/disk", "Disk full", 0, k1); /* a repeat */
	k2 = add(f, "db2/disk", "Disk full", 0, 0);
	add(f, NULL, "one shot", 0, 0);
	f->clk.wall += 30000;
	add(f, "db2/disk", NULL, 1, 0); /* db2 resolved */
	f->cfg.relay_npeers = 1;
	f->cfg.relay_batch = 10;
	relay_open(f);
	turn(f);
	i = pending(AM1);
	a = posted(i);
	assert_int_equal(cJSON_GetArraySize(a), 5);
	/* the repeat carries the original's startsAt; the resolution the
	 * firing's labels and its own end */
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1),
			    "startsAt")->valuestring, "2023-11-14T22:13:20.000Z");
	assert_string_equal(label_of(cJSON_GetArrayItem(a, 4), "severity"),
			    "error");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 4),
			    "endsAt")->valuestring, "2023-11-14T22:13:50.000Z");
	cJSON_Delete(a);
	answer(i, 0, 200);
	turn(f);
	/* the first round of re-posts: only db1/disk still fires */
	i = pending(AM1);
	a = posted(i);
	assert_int_equal(cJSON_GetArraySize(a), 1);
	assert_string_equal(label_of(cJSON_GetArrayItem(a, 0), "alertname"),
			    "db1/disk");
	cJSON_Delete(a);
	answer(i, 0, 200);
	turn(f);
	assert_int_equal(npending(AM1), 0);
	/* the next round after repost_interval */
	assert_int_equal(relay_next(f->r), f->clk.now + 60000);
	f->clk.now += 60000;
	turn(f);
	assert_int_equal(npending(AM1), 1);
	answer(pending(AM1), 0, 200);
	turn(f);
	{
		struct relay_peer_info pi;

		relay_peer_info(f->r, 0, &pi);
		assert_int_equal(pi.reposted, 2);
		assert_int_equal(pi.posted, 5);
	}
	(void)k2;
}

static void test_status_json(void **state)
{
	struct fx *f = *state;
	cJSON *o = cJSON_CreateObject(), *p;

	add(f, NULL, "a", 0, 0);
	relay_open(f);
	relay_status(f->r, o);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "relay"),
						"host")->valuestring, "web7");
	p = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
				"relay"), "peers"), AM2);
	assert_non_null(p);
	assert_string_equal(cJSON_GetObjectItem(p, "state")->valuestring, "ok");
	assert_int_equal(cJSON_GetObjectItem(p, "queue")->valueint, 1);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test_setup_teardown(
			test_every_peer_gets_every_alert_in_order, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_peer_down_never_delays_the_other, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_only_committed_alerts_and_failed_commit, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_refused_alert_is_found_and_skipped, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_reposts_keep_firing_keys_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_json, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
