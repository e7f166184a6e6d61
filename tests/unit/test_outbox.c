/*
 * test_outbox.c - unit tests for bot/outbox.c, the operators' messages:
 * staged until the turn's commit and dropped when it fails (issue 16,
 * item 2), one request per chat in flight, the rate limiter's reply
 * lane, retries after a 429 or a transient error (OUTBOX_TRIES in all),
 * notes to the default chats, and the bound.
 *
 * The real rate limiter, API state, chat table and store (temporary
 * directory) are included. tg_call is faked (it records; a test answers
 * with the real tg_classify on a canned reply). The alert side's hooks
 * (chat_busy, account) are the test's: account does what dispatch's does
 * for the API state and 429 blocks, and records. The clock is injected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/fake_log.h"

#include "alerts/store.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "bot/tgapi.c"
#include "bot/rng.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/ratelimit.c"
#include "bot/api.c"
#include "bot/chats.c"
#include "bot/outbox.c"

#include "tests/unit/fixture.h"

#define GROUP (-1001000000001LL)
#define PRIV 4242LL
#define NEWGROUP (-1009999LL)
#define T0 1700000000000LL
#define MONO0 5000000LL
#define AUTH_MS 300000

/* --- fakes --- */

struct call {
	char method[32];
	cJSON *json;
	tg_done_fn fn;
	void *arg;
	int done;
};

#define MAX_CALLS 512

static struct {
	struct call calls[MAX_CALLS];
	size_t n;
	size_t accounted;      /* answers given to the alert side */
	int64_t last_sent_at;  /* what it was told */
	int64_t busy_chat;     /* the alert side has a request to it */
} rec;

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct call *c;

	assert_non_null(body);
	assert_true(rec.n < MAX_CALLS);
	c = &rec.calls[rec.n++];
	memset(c, 0, sizeof(*c));
	str_copy(c->method, method, sizeof(c->method));
	c->json = cJSON_Parse(body);
	assert_non_null(c->json);
	free(body);
	c->fn = fn;
	c->arg = arg;
	return 0;
}

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *store;
	struct rng rng;
	struct ratelimit *rl;
	struct api *api;
	struct chats *chats;
	struct outbox *ob;
};

static int alert_side_busy(void *arg, int64_t chat)
{
	return chat == rec.busy_chat;
}

/* What dispatch does with every answer: the API state, 429 blocks. */
static void alert_side_account(void *arg, int64_t chat, int64_t sent_at,
			       const struct tg_reply *r)
{
	struct fx *f = arg;
	int capped;

	rec.accounted++;
	rec.last_sent_at = sent_at;
	api_account(f->api, r, API_SEND);
	if (r->outcome == TG_RATE_LIMITED)
		ratelimit_block(f->rl, chat, f->clk.now +
				api_retry_after_ms(f->api, r, &capped));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ratelimit_opts ro = {
		.global_per_second = 30, .chat_per_second = 1,
		.group_per_minute = 20, .margin_ms = 100, .reply_reserve = 3,
		.max_chats = 64,
	};
	struct api_opts ao = {
		.breaker_threshold = 5, .retry_base_ms = 1000,
		.retry_cap_ms = 300000, .retry_after_cap = 3600,
		.auth_retry_ms = AUTH_MS,
	};
	struct outbox_deps od;
	char err[256];

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "outbox") != 0)
		return -1;
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.chats[f->cfg.nchats++] = PRIV;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rng_seed(&f->rng, 42);
	f->rl = ratelimit_new(&ro);
	f->api = api_new(&ao, &f->clk, &f->rng);
	f->chats = chats_new(f->store);
	if (f->rl == NULL || f->api == NULL || f->chats == NULL)
		return -1;
	chats_load(f->chats, &f->cfg);
	od = (struct outbox_deps){
		.cfg = &f->cfg, .clk = &f->clk,
		.tg = (struct tg *)f, /* never dereferenced: tg_call is fake */
		.rl = f->rl, .api = f->api, .chats = f->chats,
		.chat_busy = alert_side_busy, .account = alert_side_account,
		.arg = f,
	};
	f->ob = outbox_new(&od);
	if (f->ob == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	outbox_free(f->ob); /* frees what is still in flight */
	chats_free(f->chats);
	api_free(f->api);
	ratelimit_free(f->rl);
	store_close(f->store);
	for (size_t i = 0; i < rec.n; i++)
		cJSON_Delete(rec.calls[i].json);
	memset(&rec, 0, sizeof(rec));
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* --- helpers --- */

/* outbox_run; returns how many requests it started. */
static size_t run(struct fx *f)
{
	size_t before = rec.n;

	outbox_run(f->ob);
	return rec.n - before;
}

static void answer(size_t i, long status, const char *body)
{
	struct call *c = &rec.calls[i];
	struct tg_reply r;

	assert_true(i < rec.n);
	assert_false(c->done);
	c->done = 1;
	tg_classify(&r, 0, NULL, status, body, strlen(body));
	c->fn(c->arg, &r);
	tg_reply_free(&r);
}

static void answer_ok(size_t i)
{
	answer(i, 200, "{\"ok\":true,\"result\":{\"message_id\":5,\"date\":1,"
	       "\"chat\":{\"id\":1,\"type\":\"private\"},\"text\":\"x\"}}");
}

static const char BODY_502[] = "<html>502 Bad Gateway</html>";
static const char BODY_429[] =
	"{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
	"Requests: retry after 3\",\"parameters\":{\"retry_after\":3}}";

static int64_t call_chat(size_t i)
{
	const cJSON *v = cJSON_GetObjectItem(rec.calls[i].json, "chat_id");

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *call_text(size_t i)
{
	const cJSON *v = cJSON_GetObjectItem(rec.calls[i].json, "text");

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* --- staging --- */

static void test_staged_until_commit(void **state)
{
	struct fx *f = *state;
	const cJSON *rp;

	assert_int_equal(outbox_reply(f->ob, PRIV, 0, "<b>pong</b>", NULL, 31),
			 0);
	assert_int_equal(outbox_queued(f->ob), 1);
	/* not before the turn's commit, and nothing to wake up for */
	assert_int_equal(run(f), 0);
	assert_true(outbox_next(f->ob) == INT64_MAX);

	outbox_committed(f->ob, 1);
	assert_int_equal(outbox_next(f->ob), f->clk.now);
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[0].method, "sendMessage");
	assert_int_equal(call_chat(0), PRIV);
	assert_string_equal(call_text(0), "<b>pong</b>");
	rp = cJSON_GetObjectItem(rec.calls[0].json, "reply_parameters");
	assert_int_equal(cJSON_GetObjectItem(rp, "message_id")->valuedouble,
			 31);
	assert_int_equal(outbox_inflight(f->ob), 1);
	assert_int_equal(outbox_queued(f->ob), 0);
	answer_ok(0);
	assert_int_equal(outbox_inflight(f->ob), 0);
	assert_int_equal(rec.accounted, 1);
	assert_int_equal(rec.last_sent_at, f->clk.now);
}

/* A turn that failed to commit: its replies, edits and answers are
 * dropped (the operator is never told of what did not happen); what
 * an earlier turn committed still goes. */
static void test_dropped_on_failed_commit(void **state)
{
	struct fx *f = *state;

	assert_int_equal(outbox_reply(f->ob, GROUP, 0, "earlier", NULL, 0), 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(outbox_reply(f->ob, PRIV, 0, "🔕 Mute #1 until 14:00",
				      NULL, 0), 0);
	assert_int_equal(outbox_edit(f->ob, GROUP, 77, "acked", NULL), 0);
	assert_int_equal(outbox_answer_callback(f->ob, "cb-1", "Muted"), 0);
	assert_int_equal(outbox_queued(f->ob), 4);
	outbox_committed(f->ob, 0);
	assert_int_equal(outbox_queued(f->ob), 1);
	assert_true(fake_log_warnings > 0);

	for (int i = 0; i < 5; i++) {
		run(f);
		for (size_t k = 0; k < rec.n; k++)
			if (!rec.calls[k].done)
				answer_ok(k);
		f->clk.now += 2000;
	}
	assert_int_equal(rec.n, 1);
	assert_int_equal(call_chat(0), GROUP);
	assert_string_equal(call_text(0), "earlier");
}

/* --- order and lanes --- */

static void test_one_request_per_chat(void **state)
{
	struct fx *f = *state;

	outbox_reply(f->ob, PRIV, 0, "one", NULL, 0);
	outbox_reply(f->ob, PRIV, 0, "two", NULL, 0);
	outbox_reply(f->ob, GROUP, 0, "to the group", NULL, 0);
	outbox_answer_callback(f->ob, "cb-1", "Acked");
	outbox_committed(f->ob, 1);
	rec.busy_chat = GROUP; /* an alert to the group is in flight */

	assert_int_equal(run(f), 2);
	assert_string_equal(call_text(0), "one");
	/* the answer to a button press waits for no chat */
	assert_string_equal(rec.calls[1].method, "answerCallbackQuery");
	assert_true(outbox_busy(f->ob, PRIV));
	assert_false(outbox_busy(f->ob, GROUP));
	/* "two" waits for "one"'s answer, the group for its alert */
	f->clk.now += 5000;
	assert_int_equal(run(f), 0);
	assert_true(outbox_next(f->ob) == INT64_MAX);

	answer_ok(0);
	answer(1, 200, "{\"ok\":true,\"result\":true}");
	assert_true(outbox_next(f->ob) <= f->clk.now);
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(2), "two");
	rec.busy_chat = 0;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(3), GROUP);
}

/* Replies use the reply lane: an alert backlog does not hold them, a
 * 429 block on the chat does. */
static void test_reply_lane(void **state)
{
	struct fx *f = *state;
	int64_t now = f->clk.now, until = now + 7000;

	/* the alert side used its share of the chat's window */
	while (ratelimit_when(f->rl, GROUP, LANE_ALERT, now) <= now)
		ratelimit_sent(f->rl, GROUP, now);
	assert_int_equal(ratelimit_when(f->rl, GROUP, LANE_REPLY, now), now);
	outbox_reply(f->ob, GROUP, 0, "status", NULL, 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 1);
	answer_ok(0);

	/* a 429 block on the chat holds the next reply until it ends */
	ratelimit_block(f->rl, GROUP, until);
	outbox_reply(f->ob, GROUP, 0, "later", NULL, 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 0);
	assert_true(outbox_next(f->ob) >= until);
	f->clk.now = outbox_next(f->ob);
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(1), "later");
}

/* --- retries --- */

static void test_retry_until_tries(void **state)
{
	struct fx *f = *state;
	int64_t t429;

	outbox_reply(f->ob, PRIV, 0, "report", NULL, 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 1);
	answer(0, 429, BODY_429);
	t429 = f->clk.now;
	/* back in the queue, first, once the chat's block ends */
	assert_int_equal(outbox_queued(f->ob), 1);
	assert_int_equal(run(f), 0);
	assert_true(outbox_next(f->ob) >= t429 + 3000);
	f->clk.now = outbox_next(f->ob);
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(1), "report");
	answer(1, 502, BODY_502);
	assert_int_equal(outbox_queued(f->ob), 1);
	f->clk.now = outbox_next(f->ob);
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(2), "report");
	answer(2, 502, BODY_502);
	/* OUTBOX_TRIES requests in all, then it is given up */
	assert_int_equal(rec.n, OUTBOX_TRIES);
	assert_int_equal(outbox_queued(f->ob), 0);
	assert_int_equal(outbox_inflight(f->ob), 0);
	assert_true(outbox_next(f->ob) == INT64_MAX);
	f->clk.now += 60000;
	assert_int_equal(run(f), 0);
	assert_int_equal(rec.accounted, OUTBOX_TRIES);
}

/* A refused payload is not tried again; neither is a button's answer
 * (it is stale by then). */
static void test_no_retry_permanent(void **state)
{
	struct fx *f = *state;

	outbox_reply(f->ob, PRIV, 0, "bad", NULL, 0);
	outbox_answer_callback(f->ob, "cb-9", "Acked");
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 2);
	answer(0, 400, "{\"ok\":false,\"error_code\":400,\"description\":"
	       "\"Bad Request: can't parse entities\"}");
	answer(1, 502, BODY_502);
	f->clk.now += 60000;
	assert_int_equal(run(f), 0);
	assert_int_equal(outbox_queued(f->ob), 0);
}

/* A 401 on a reply pauses every send (the API state): the next reply
 * waits for the pause's retry. */
static void test_paused_by_401(void **state)
{
	struct fx *f = *state;
	int64_t t401;

	outbox_reply(f->ob, PRIV, 0, "one", NULL, 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 1);
	answer(0, 401, "{\"ok\":false,\"error_code\":401,\"description\":"
	       "\"Unauthorized\"}");
	t401 = f->clk.now;
	assert_true(api_paused(f->api));
	outbox_reply(f->ob, GROUP, 0, "two", NULL, 0);
	outbox_committed(f->ob, 1);
	assert_int_equal(run(f), 0);
	assert_int_equal(outbox_next(f->ob), t401 + AUTH_MS);
	f->clk.now = t401 + AUTH_MS;
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(1), "two");
}

/* --- notes and bounds --- */

static void test_notify_default_chats(void **state)
{
	struct fx *f = *state;
	char err[160];
	int saw_new = 0, saw_old = 0, saw_priv = 0;

	assert_int_equal(chats_fail(f->chats, PRIV, "blocked"), 1);
	assert_int_equal(chats_migrate(f->chats, GROUP, NEWGROUP, err,
				       sizeof(err)), 0);
	outbox_notify(f->ob, "📶 back");
	outbox_committed(f->ob, 1);
	assert_int_equal(outbox_queued(f->ob), 1);
	run(f);
	for (size_t i = 0; i < rec.n; i++) {
		saw_new |= call_chat(i) == NEWGROUP;
		saw_old |= call_chat(i) == GROUP;
		saw_priv |= call_chat(i) == PRIV;
		assert_string_equal(call_text(i), "📶 back");
		/* a note rings nobody's phone */
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
				rec.calls[i].json, "disable_notification")));
	}
	assert_true(saw_new);
	assert_false(saw_old);
	assert_false(saw_priv);
}

static void test_bounded(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < OUTBOX_MAX / 2; i++)
		assert_int_equal(outbox_reply(f->ob, PRIV, 0, "x", NULL, 0), 0);
	outbox_committed(f->ob, 1);
	for (int i = OUTBOX_MAX / 2; i < OUTBOX_MAX; i++)
		assert_int_equal(outbox_reply(f->ob, PRIV, 0, "x", NULL, 0), 0);
	fake_log_reset();
	assert_int_equal(outbox_reply(f->ob, PRIV, 0, "one too many", NULL, 0),
			 -1);
	assert_int_equal(outbox_answer_callback(f->ob, "cb", "x"), -1);
	assert_true(fake_log_warnings > 0);
	assert_int_equal(outbox_queued(f->ob), OUTBOX_MAX);
	/* the dropped turn frees its room */
	outbox_committed(f->ob, 0);
	assert_int_equal(outbox_queued(f->ob), OUTBOX_MAX / 2);
	assert_int_equal(outbox_reply(f->ob, PRIV, 0, "fits", NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_staged_until_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_on_failed_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_request_per_chat,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_lane, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_until_tries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_retry_permanent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_paused_by_401, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_notify_default_chats,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
