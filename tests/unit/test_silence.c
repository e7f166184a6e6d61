/*
 * test_silence.c - unit tests for bot/amclient.c (failover, error texts,
 * limits, times) and commands/cmd_silence.c with the Mute button, /mute
 * #ID, /unmute sN and /mutes (commands/cmd_mute.c, cmd_ack.c) against a
 * real store in a temporary directory.
 *
 * The transfers (xfer.h) are faked: each request is recorded and the test
 * finishes it with the answer it wants, as xfer_harvest would. Replies,
 * callback answers and stats are recorded; replies must be valid
 * Telegram HTML.
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

#include "tests/unit/fake_log.h"

#include "alerts/store.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/tgvalidate.c"
#include "alerts/alert.c"
#include "bot/tz.c"
#include "bot/config.c"
#include "alerts/template.c"
#include "bot/mutes.c"
#include "bot/amclient.c"
#include "commands/commands.c"
#include "commands/cmd_mute.c"
#include "commands/cmd_ack.c"
#include "commands/cmd_silence.c"

#define ADMIN 111LL
#define GROUP (-1001000000001LL)
#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */
#define MAX_REC 128

/* --- fakes --- */

struct rec_xfer {
	char method[8];
	char url[600];
	char auth[300];
	char userpwd[300];
	char *body;
	long timeout, connect_timeout;
	xfer_done_fn fn;
	void *arg;
	int done;
};

static struct {
	struct rec_xfer x[MAX_REC];
	size_t nx;
	int xfer_fail;
	char *replies[MAX_REC];
	size_t nreplies;
	char *answers[MAX_REC];
	size_t nanswers;
} rec;

static void rec_clear(void)
{
	for (size_t i = 0; i < rec.nx; i++)
		free(rec.x[i].body);
	for (size_t i = 0; i < rec.nreplies; i++)
		free(rec.replies[i]);
	for (size_t i = 0; i < rec.nanswers; i++)
		free(rec.answers[i]);
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
}

int xfer_start(struct xfer *x, struct xfer_req *req, xfer_done_fn fn,
	       void *arg)
{
	struct rec_xfer *r;

	if (rec.xfer_fail) {
		free(req->body);
		req->body = NULL;
		return -1;
	}
	assert_true(rec.nx < MAX_REC);
	r = &rec.x[rec.nx++];
	str_copy(r->method, req->method ? req->method : "POST",
		 sizeof(r->method));
	str_copy(r->url, req->url, sizeof(r->url));
	str_copy(r->auth, req->auth ? req->auth : "", sizeof(r->auth));
	str_copy(r->userpwd, req->userpwd ? req->userpwd : "",
		 sizeof(r->userpwd));
	r->body = req->body;
	req->body = NULL;
	r->timeout = req->timeout;
	r->connect_timeout = req->connect_timeout;
	r->fn = fn;
	r->arg = arg;
	return 0;
}

/* Finishes recorded request i: curl_code 0 and an HTTP status, or a
 * transport error. */
static void finish(size_t i, int curl_code, long status, const char *body)
{
	struct xfer_result r = {
		.curl_code = curl_code,
		.error = curl_code ? "Couldn't connect to server" : "",
		.http_status = status,
		.body = body ? body : "",
		.len = body ? strlen(body) : 0,
	};

	assert_true(i < rec.nx);
	assert_false(rec.x[i].done);
	rec.x[i].done = 1;
	rec.x[i].fn(rec.x[i].arg, &r);
}

int outbox_reply(struct outbox *ob, int64_t chat, int64_t thread,
		 const char *html, const char *markup, int64_t reply_to)
{
	char err[256];

	assert_true(rec.nreplies < MAX_REC);
	if (tg_html_validate(html, strlen(html), err, sizeof(err)) != 0)
		fail_msg("invalid reply HTML (%s): %s", err, html);
	if (getenv("SILENCE_SHOW"))
		fprintf(stderr, "--- reply:\n%s\n", html);
	rec.replies[rec.nreplies++] = strdup(html);
	return 0;
}

int outbox_answer_callback(struct outbox *ob, const char *callback_id,
			   const char *text)
{
	assert_true(rec.nanswers < MAX_REC);
	rec.answers[rec.nanswers++] = strdup(text);
	return 0;
}

int64_t chats_resolve(const struct chats *c, int64_t chat)
{
	return chat;
}

void stats_command(struct stats *s, const char *name,
		   enum stat_cmd_result r)
{
}

void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id)
{
}

void dispatch_refresh_alerts(struct dispatch *ds, const int64_t *ids,
			     size_t n)
{
}

/* Handlers of the table this test does not exercise. */
void cmd_help_run(struct cmd_ctx *c) {}
void cmd_status_run(struct cmd_ctx *c) {}
void cmd_alerts_run(struct cmd_ctx *c) {}
void cmd_alert_run(struct cmd_ctx *c) {}
void cmd_retry_run(struct cmd_ctx *c) {}

/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *store;
	struct mutes *mutes;
	struct amclient *am;
	struct cmd_silence_turn turn;
	struct cmd_deps deps;
	struct cmd_env env;
	int64_t next_update;
};

static const char *const PEERS[] = {
	"http://am1:9093", "http://am2:9093", "http://am3:9093"
};

static struct amclient *client(size_t npeers, const char *token)
{
	struct am_opts o = {
		.npeers = npeers, .token = token, .connect_timeout = 2,
		.timeout = 5,
	};
	char err[256];
	struct amclient *am;

	for (size_t i = 0; i < npeers; i++)
		o.peers[i] = PEERS[i];
	am = am_new((struct xfer *)&rec, &o, err, sizeof(err));
	assert_non_null(am);
	return am;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	rec_clear();
	setenv("TZ", "UTC", 1);
	strcpy(f->dir, "/tmp/opsbot-sil-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	config_defaults(&f->cfg);
	f->cfg.admins[f->cfg.nadmins++] = ADMIN;
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->clk.now = 5000000;
	f->clk.wall = T0;
	f->mutes = mutes_new(f->store, &f->clk);
	f->am = client(2, NULL);
	f->deps = (struct cmd_deps){
		.cfg = &f->cfg, .clk = &f->clk, .store = f->store,
		.outbox = (struct outbox *)f, .mutes = f->mutes,
		.am = f->am, .silence_turn = &f->turn,
	};
	f->env.deps = &f->deps;
	f->next_update = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	am_free(f->am);
	mutes_free(f->mutes);
	store_close(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	rec_clear();
	return 0;
}

#define META_AM \
	"{\"via\":\"alertmanager\",\"fingerprint\":\"abc123\"," \
	"\"externalURL\":\"http://am.example:9093/\"," \
	"\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db1:9100\"," \
	"\"job\":\"node\",\"severity\":\"critical\"}}"

/* Stores an alert (meta NULL: from the socket) and commits. */
static int64_t add_alert(struct fx *f, const char *source, const char *meta)
{
	struct alert a = { .received_at = T0, .severity = SEV_CRITICAL,
			   .peer_uid = -1, .peer_pid = -1 };
	struct dest d = { .chat_id = GROUP };

	a.title = strdup("Disk full");
	a.source = source ? strdup(source) : NULL;
	a.meta = meta ? strdup(meta) : NULL;
	a.key = meta ? strdup("am:abc123") : NULL;
	assert_int_equal(store_alert_insert(f->store, &a, &d, 1, DS_PENDING,
					    0), 0);
	assert_int_equal(store_commit(f->store), 0);
	alert_free(&a);
	return sqlite3_last_insert_rowid(f->store->db);
}

static void say(struct fx *f, const char *text)
{
	cJSON *u = cJSON_CreateObject(), *m, *from, *ch;

	cJSON_AddNumberToObject(u, "update_id", (double)f->next_update);
	m = cJSON_AddObjectToObject(u, "message");
	cJSON_AddNumberToObject(m, "message_id", (double)f->next_update++);
	from = cJSON_AddObjectToObject(m, "from");
	cJSON_AddNumberToObject(from, "id", (double)ADMIN);
	cJSON_AddStringToObject(from, "username", "alice");
	ch = cJSON_AddObjectToObject(m, "chat");
	cJSON_AddNumberToObject(ch, "id", (double)GROUP);
	cJSON_AddStringToObject(ch, "type", "supergroup");
	cJSON_AddStringToObject(m, "text", text);
	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
}

static void press(struct fx *f, int64_t user, const char *data)
{
	cJSON *u = cJSON_CreateObject(), *q, *from, *m, *ch;

	cJSON_AddNumberToObject(u, "update_id", (double)f->next_update++);
	q = cJSON_AddObjectToObject(u, "callback_query");
	cJSON_AddStringToObject(q, "id", "cb1");
	cJSON_AddStringToObject(q, "data", data);
	from = cJSON_AddObjectToObject(q, "from");
	cJSON_AddNumberToObject(from, "id", (double)user);
	cJSON_AddStringToObject(from, "username", "alice");
	m = cJSON_AddObjectToObject(q, "message");
	cJSON_AddNumberToObject(m, "message_id", 77);
	ch = cJSON_AddObjectToObject(m, "chat");
	cJSON_AddNumberToObject(ch, "id", (double)GROUP);
	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
}

static const char *last_reply(void)
{
	return rec.nreplies ? rec.replies[rec.nreplies - 1] : "";
}

static const char *last_answer(void)
{
	return rec.nanswers ? rec.answers[rec.nanswers - 1] : "";
}

#define assert_has(hay, needle) do { \
	if (strstr((hay), (needle)) == NULL) \
		fail_msg("\"%s\" not found in:\n%s", (needle), (hay)); \
} while (0)

/* --- amclient --- */

static void done_count(void *ctx, const struct am_answer *a)
{
	int *calls = ctx;
	char line[AM_MAX_ERROR + 64];

	/* the context is the request's copy: write the answer into it and
	 * into a global the test reads */
	snprintf(line, sizeof(line), "%d|%d|%s|%ld|%s|%.*s", a->ok, a->peer,
		 a->url, a->status, a->error, (int)a->len, a->body);
	assert_true(rec.nreplies < MAX_REC);
	rec.replies[rec.nreplies++] = strdup(line);
	calls[0]++;
}

static void test_failover_to_the_first_peer_that_answers(void **state)
{
	struct amclient *am = client(3, "tok-1");
	int ctx = 0;
	char err[256];

	(void)state;
	rec_clear();
	assert_int_equal(am_request(am, "POST", "/api/v2/silences", "{\"a\":1}",
				    &ctx, sizeof(ctx), done_count, err,
				    sizeof(err)), 0);
	assert_int_equal(am_inflight(am), 1);
	assert_int_equal(rec.nx, 1);
	assert_string_equal(rec.x[0].url, "http://am1:9093/api/v2/silences");
	assert_string_equal(rec.x[0].method, "POST");
	assert_string_equal(rec.x[0].body, "{\"a\":1}");
	assert_string_equal(rec.x[0].auth, "Bearer tok-1");
	assert_int_equal(rec.x[0].timeout, 5);
	assert_int_equal(rec.x[0].connect_timeout, 2);

	finish(0, 7, 0, NULL); /* refused: next peer, same body */
	assert_int_equal(rec.nx, 2);
	assert_string_equal(rec.x[1].url, "http://am2:9093/api/v2/silences");
	assert_string_equal(rec.x[1].body, "{\"a\":1}");
	finish(1, 0, 503, "gossip not settled\n"); /* 5xx: next */
	assert_int_equal(rec.nx, 3);
	assert_int_equal(rec.nreplies, 0);
	finish(2, 0, 200, "{\"silenceID\":\"x\"}");
	assert_int_equal(rec.nreplies, 1);
	assert_string_equal(rec.replies[0], "1|2|http://am3:9093|200||"
			    "{\"silenceID\":\"x\"}");
	assert_int_equal(am_inflight(am), 0);
	am_free(am);
}

static void test_refusal_is_final_and_errors_name_each_peer(void **state)
{
	struct amclient *am = client(2, NULL);
	int ctx = 0;
	char err[256];

	(void)state;
	rec_clear();
	/* A 4xx (other than 404/408/429) is the request's fault: final. */
	assert_int_equal(am_request(am, "POST", "/api/v2/silences", "{}", &ctx,
				    sizeof(ctx), done_count, err, sizeof(err)),
			 0);
	assert_string_equal(rec.x[0].auth, "");
	finish(0, 0, 422, "{\"code\":612,\"message\":\"matchers in body "
	       "should have at least 1 items\"}");
	assert_int_equal(rec.nx, 1);
	assert_string_equal(rec.replies[0], "0|0|http://am1:9093|422|"
			    "http://am1:9093: HTTP 422 {\"code\":612,\"message"
			    "\":\"matchers in body should have at least 1 "
			    "items\"}|{\"code\":612,\"message\":\"matchers in "
			    "body should have at least 1 items\"}");

	/* Every peer down: each named, in order; nobody answered. */
	assert_int_equal(am_request(am, "DELETE", "/api/v2/silence/x", NULL,
				    &ctx, sizeof(ctx), done_count, err,
				    sizeof(err)), 0);
	assert_string_equal(rec.x[1].method, "DELETE");
	assert_null(rec.x[1].body);
	finish(1, 7, 0, NULL);
	finish(2, 0, 500, "silence not found");
	assert_string_equal(rec.replies[1], "0|1|http://am2:9093|500|"
			    "http://am1:9093: "
			    "Couldn't connect to server; http://am2:9093: "
			    "HTTP 500 silence not found|silence not found");
	/* One peer only: no failover. */
	assert_int_equal(am_request_peer(am, 1, "POST", "/api/v2/alerts", "[]",
					 &ctx, sizeof(ctx), done_count, err,
					 sizeof(err)), 0);
	assert_string_equal(rec.x[3].url, "http://am2:9093/api/v2/alerts");
	finish(3, 7, 0, NULL);
	assert_int_equal(rec.nx, 4);
	assert_string_equal(rec.replies[2], "0|-1||0|http://am2:9093: "
			    "Couldn't connect to server|");
	assert_int_equal(rec.nreplies, 3);
	am_free(am);
}

static void test_limits_and_free_in_flight(void **state)
{
	struct amclient *am = client(1, NULL);
	char err[256], big[AM_MAX_CTX + 1] = "";
	int ctx = 0;

	(void)state;
	rec_clear();
	for (int i = 0; i < AM_MAX_INFLIGHT; i++)
		assert_int_equal(am_request(am, "GET", "/api/v2/silences", NULL,
					    &ctx, sizeof(ctx), done_count, err,
					    sizeof(err)), 0);
	assert_int_equal(am_request(am, "GET", "/api/v2/silences", NULL, &ctx,
				    sizeof(ctx), done_count, err, sizeof(err)),
			 -1);
	assert_has(err, "too many Alertmanager requests");
	finish(0, 0, 200, "[]");
	assert_int_equal(am_request(am, "GET", "/x", NULL, big, sizeof(big),
				    done_count, err, sizeof(err)), -1);
	/* A request that cannot start is refused and not called back. */
	rec.xfer_fail = 1;
	assert_int_equal(am_request(am, "GET", "/x", NULL, &ctx, sizeof(ctx),
				    done_count, err, sizeof(err)), -1);
	assert_has(err, "http://am1:9093: could not start the request");
	assert_int_equal(am_inflight(am), AM_MAX_INFLIGHT - 1);
	/* The rest are freed with the client (ASan: no leak). */
	am_free(am);
	assert_int_equal(rec.nreplies, 1);
	assert_null(am_new((struct xfer *)&rec, &(struct am_opts){ 0 }, err,
			   sizeof(err)));
}

static void test_times(void **state)
{
	char ts[40];

	(void)state;
	am_time(ts, sizeof(ts), T0 + 5);
	assert_string_equal(ts, "2023-11-14T22:13:20.005Z");
	assert_int_equal(am_time_parse(ts), T0 + 5);
	assert_int_equal(am_time_parse("2023-11-14T22:13:20Z"), T0);
	assert_int_equal(am_time_parse("2023-11-14T23:13:20.123456789+01:00"),
			 T0 + 123);
	assert_int_equal(am_time_parse("2023-11-14 22:13:20Z"), -1);
	assert_int_equal(am_time_parse("2023-13-14T22:13:20Z"), -1);
	assert_int_equal(am_time_parse("2023-11-14T22:13:20"), -1);
	assert_int_equal(am_time_parse("2023-11-14T22:13:20Zjunk"), -1);
	assert_int_equal(am_time_parse(NULL), -1);
}

/* --- silences --- */

static void test_mute_button_creates_a_silence(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, "db1:9100", META_AM);
	char data[32];
	cJSON *b, *m;
	struct silence si;

	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	press(f, ADMIN, data);
	assert_string_equal(last_answer(), "🔕 silencing in Alertmanager…");
	assert_int_equal(rec.nreplies, 0); /* the reply waits for the answer */
	assert_int_equal(rec.nx, 1);
	assert_string_equal(rec.x[0].url, "http://am1:9093/api/v2/silences");
	b = cJSON_Parse(rec.x[0].body);
	assert_non_null(b);
	m = cJSON_GetObjectItem(b, "matchers");
	assert_int_equal(cJSON_GetArraySize(m), 2); /* alertname, instance */
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0),
						"name")->valuestring,
			    "alertname");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1),
						"value")->valuestring,
			    "db1:9100");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1),
						      "isRegex")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 1),
						     "isEqual")));
	assert_string_equal(cJSON_GetObjectItem(b, "startsAt")->valuestring,
			    "2023-11-14T22:13:20.000Z");
	assert_string_equal(cJSON_GetObjectItem(b, "endsAt")->valuestring,
			    "2023-11-14T23:13:20.000Z");
	assert_string_equal(cJSON_GetObjectItem(b, "createdBy")->valuestring,
			    "@alice (Telegram user 111)");
	assert_has(cJSON_GetObjectItem(b, "comment")->valuestring, "opsbot");
	assert_has(cJSON_GetObjectItem(b, "comment")->valuestring,
		   "-1001000000001");
	cJSON_Delete(b);

	f->clk.wall += 200;
	finish(0, 0, 200, "{\"silenceID\":\"8f2b-41aa-9c\"}");
	assert_int_equal(rec.nreplies, 1);
	assert_has(last_reply(), "Silenced in Alertmanager until 23:13 (1h00m)");
	assert_has(last_reply(), "alertname=\"DiskFull\", "
		   "instance=\"db1:9100\"");
	assert_has(last_reply(), "<a href=\"http://am.example:9093/#/silences/"
		   "8f2b-41aa-9c\">Silence s1</a>");
	assert_has(last_reply(), "/unmute s1 ends it");
	assert_int_equal(store_silence_get(f->store, 1, NULL, &si), 1);
	assert_string_equal(si.silence_id, "8f2b-41aa-9c");
	assert_string_equal(si.peer, "http://am1:9093");
	assert_int_equal(si.alert_id, id);
	assert_int_equal(si.ends_at, T0 + 3600000);
	assert_string_equal(si.created_by, "@alice");
	/* the turn's new silence is remembered until its commit */
	assert_int_equal(f->turn.n, 1);
	cmd_silence_committed(&f->deps, 1);
	assert_int_equal(f->turn.n, 0);
	assert_int_equal(rec.nx, 1);
	assert_int_equal(store_commit(f->store), 0);
}

static void test_failed_commit_expires_the_new_silence(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, "db1:9100", META_AM);
	char data[32];

	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	press(f, ADMIN, data);
	finish(0, 0, 200, "{\"silenceID\":\"aaaa-bbbb\"}");
	store_rollback(f->store); /* the turn's commit failed */
	cmd_silence_committed(&f->deps, 0);
	assert_int_equal(rec.nx, 2);
	assert_string_equal(rec.x[1].method, "DELETE");
	assert_string_equal(rec.x[1].url,
			    "http://am1:9093/api/v2/silence/aaaa-bbbb");
	finish(1, 0, 200, NULL);
	assert_int_equal(f->turn.n, 0);
}

static void test_refused_silence_says_who_and_stores_nothing(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, "db1:9100", META_AM);
	struct silence si;
	char cmd[32];

	snprintf(cmd, sizeof(cmd), "/mute 2h #%lld", (long long)id);
	say(f, cmd);
	assert_int_equal(rec.nx, 1);
	finish(0, 7, 0, NULL);
	finish(1, 0, 400, "bad matchers");
	assert_has(last_reply(), "Alertmanager did not create the silence; "
		   "nothing was silenced. http://am1:9093: Couldn't "
		   "connect to server; http://am2:9093: HTTP 400 bad "
		   "matchers");
	assert_int_equal(store_silence_get(f->store, 1, NULL, &si), 0);
	assert_int_equal(fake_log_warnings, 1);
	/* /mute 2h #404: no such alert */
	say(f, "/mute 2h #404");
	assert_string_equal(last_reply(), "No such alert (/alerts lists "
			    "them).");
	assert_int_equal(rec.nx, 2);
}

static void test_matchers_every_label_or_none(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, "db1:9100", META_AM);
	char data[32];
	cJSON *b;

	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	str_copy(f->cfg.am_matchers[0], "*", sizeof(f->cfg.am_matchers[0]));
	f->cfg.am_nmatchers = 1;
	press(f, ADMIN, data);
	b = cJSON_Parse(rec.x[0].body);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "matchers")),
			 4);
	cJSON_Delete(b);
	/* a label the alert lacks: nothing asked, the operator told */
	str_copy(f->cfg.am_matchers[0], "cluster",
		 sizeof(f->cfg.am_matchers[0]));
	press(f, ADMIN, data);
	assert_int_equal(rec.nx, 1);
	assert_string_equal(last_answer(), "⚠️ not silenced: see the chat");
	assert_has(last_reply(), "none of the labels silences match on "
		   "(alertmanager.silence_matchers): cluster");
}

static void test_local_mutes_stay_local(void **state)
{
	struct fx *f = *state;
	int64_t sock = add_alert(f, "web1", NULL), amid;
	struct mute m[4];
	char data[32];

	snprintf(data, sizeof(data), "mute:%lld", (long long)sock);
	press(f, ADMIN, data);
	assert_string_equal(last_answer(), "🔕 muted for 1h");
	assert_int_equal(rec.nx, 0);
	assert_int_equal(store_commit(f->store), 0);
	assert_int_equal(store_mutes(f->store, T0, m, 4), 1);
	assert_string_equal(m[0].source, "web1");
	/* without an Alertmanager, an Alertmanager alert mutes locally too */
	amid = add_alert(f, "db1:9100", META_AM);
	f->deps.am = NULL;
	snprintf(data, sizeof(data), "mute:%lld", (long long)amid);
	press(f, ADMIN, data);
	assert_string_equal(last_answer(), "🔕 muted for 1h");
	assert_int_equal(rec.nx, 0);
	/* a stranger's press: refused before anything */
	f->deps.am = f->am;
	press(f, 999, data);
	assert_string_equal(last_answer(), "⛔ not authorised");
	assert_int_equal(rec.nx, 0);
}

/* Makes silence s1 as the button would. */
static void make_s1(struct fx *f)
{
	int64_t id = add_alert(f, "db1:9100", META_AM);
	char data[32];

	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	press(f, ADMIN, data);
	finish(rec.nx - 1, 0, 200, "{\"silenceID\":\"1111-2222\"}");
	cmd_silence_committed(&f->deps, 1);
	assert_int_equal(store_commit(f->store), 0);
}

static void test_unmute_expires_the_silence(void **state)
{
	struct fx *f = *state;
	struct silence si;
	size_t n;

	make_s1(f);
	n = rec.nx;
	say(f, "/unmute s1");
	assert_int_equal(rec.nx, n + 1);
	assert_string_equal(rec.x[n].method, "DELETE");
	assert_string_equal(rec.x[n].url,
			    "http://am1:9093/api/v2/silence/1111-2222");
	finish(n, 0, 200, NULL);
	assert_has(last_reply(), "Silence s1 expired in Alertmanager: "
		   "alertname=\"DiskFull\"");
	assert_int_equal(store_silence_get(f->store, 1, NULL, &si), 1);
	assert_int_equal(si.gone, 1);
	/* by Alertmanager's id too; unknown there: gone all the same */
	say(f, "/unmute 1111-2222");
	finish(n + 1, 0, 500, "silence not found");
	finish(n + 2, 0, 500, "silence not found");
	assert_has(last_reply(), "already gone from Alertmanager");
	say(f, "/unmute s9");
	assert_string_equal(last_reply(), "No silence made by opsbot is "
			    "called s9");
	/* refused: said, and still ours */
	make_s1(f);
	n = rec.nx;
	say(f, "/unmute s2");
	finish(n, 0, 403, "forbidden");
	assert_has(last_reply(), "did not expire silence s2: http://am1:9093: "
		   "HTTP 403 forbidden");
	assert_int_equal(store_silence_get(f->store, 2, NULL, &si), 1);
	assert_int_equal(si.gone, 0);
}

static void test_mutes_reads_silences_back(void **state)
{
	struct fx *f = *state;
	struct silence si;
	size_t n;

	/* no silences: answered at once, locally */
	say(f, "/mutes");
	assert_string_equal(last_reply(), "No active mutes.");
	assert_int_equal(rec.nx, 0);

	make_s1(f);
	make_s1(f);
	n = rec.nx;
	say(f, "/mutes");
	assert_int_equal(rec.nx, n + 1);
	assert_string_equal(rec.x[n].method, "GET");
	assert_string_equal(rec.x[n].url, "http://am1:9093/api/v2/silences");
	finish(n, 0, 200, "[{\"id\":\"1111-2222\",\"status\":{\"state\":"
	       "\"expired\"},\"endsAt\":\"2023-11-14T22:13:20.000Z\"},"
	       "{\"id\":\"other\",\"status\":{\"state\":\"active\"}}]");
	/* both rows have the same id: the first is listed expired, the
	 * second found the same way */
	assert_has(last_reply(), "No active mutes.");
	assert_has(last_reply(), "Alertmanager silences by opsbot");
	assert_has(last_reply(), "s1 alertname=\"DiskFull\", "
		   "instance=\"db1:9100\": expired in Alertmanager");
	assert_int_equal(store_silence_get(f->store, 1, NULL, &si), 1);
	assert_int_equal(si.gone, 1);

	/* active, and one Alertmanager no longer knows */
	assert_int_equal(store_commit(f->store), 0);
	make_s1(f);
	n = rec.nx;
	say(f, "/mutes");
	finish(n, 0, 200, "[{\"id\":\"1111-2222\",\"status\":{\"state\":"
	       "\"active\"},\"endsAt\":\"2023-11-14T23:43:20.000Z\"}]");
	assert_has(last_reply(), "s3 alertname=\"DiskFull\", "
		   "instance=\"db1:9100\": active, 1h30m left, by "
		   "@alice <a href=\"http://am.example:9093/#/silences/"
		   "1111-2222\">open</a>");

	/* Alertmanager unreachable: said, rows as recorded */
	n = rec.nx;
	say(f, "/mutes");
	finish(n, 7, 0, NULL);
	finish(n + 1, 7, 0, NULL);
	assert_has(last_reply(), "could not read them back: http://am1:9093: "
		   "Couldn't connect to server");
	assert_has(last_reply(), "As recorded here:\ns3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failover_to_the_first_peer_that_answers),
		cmocka_unit_test(test_refusal_is_final_and_errors_name_each_peer),
		cmocka_unit_test(test_limits_and_free_in_flight),
		cmocka_unit_test(test_times),
		cmocka_unit_test_setup_teardown(test_mute_button_creates_a_silence,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failed_commit_expires_the_new_silence, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_refused_silence_says_who_and_stores_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_matchers_every_label_or_none,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_mutes_stay_local,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmute_expires_the_silence,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutes_reads_silences_back,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
