/*
 * test_reliab.c - unit tests for the delivery and intake parts of issue
 * 16, driving bot/dispatch.c and bot/intake.c as the loop does (a turn:
 * answers, dispatch_run, commit, dispatch_committed) over the real store,
 * chat table, rate limiter, API state, outbox and formatter:
 * - a commit that fails (disk full) after a send: that message is not
 *   sent again, nothing new starts until the store commits, and then
 *   everything goes out once (item 1);
 * - a 429's block is stored and honoured by a restarted dispatch (13);
 * - a restart during a long alert resumes at its first undelivered part
 *   (17);
 * - a higher severity with the same key is a new alert, also after an
 *   ack; keys are per sender under key_scope "uid", one namespace under
 *   "shared" (4).
 * tg_call is faked (records the request); answers are canned Bot API
 * bodies run through the real tg_classify. The clock is set by hand.
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
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/tgvalidate.c"
#include "alerts/alert.c"
#include "bot/tgapi.c"
#include "bot/tz.c"
#include "bot/config.c"
#include "alerts/template.c"
#include "alerts/route.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/rng.c"
#include "bot/api.c"
#include "bot/stats.c"
#include "bot/mutes.c"
#include "bot/intake.c"

/* ratelimit.c, chats.c and dispatch.c each have a private struct chat
 * (and the rate limiter a few more names): rename the others'. */
#define chat rl_chat
#define chat_get rl_chat_get
#define chat_find rl_chat_find
#define max64 rl_max64
#include "bot/ratelimit.c"
#undef chat
#undef chat_get
#undef chat_find
#undef max64
#undef MAX_CHATS
#define chat ct_chat
#include "bot/chats.c"
#undef chat
#include "bot/outbox.c"
#include "bot/dispatch.c"

#include "fixture.h"

#define GROUP (-1001000000001LL)
#define PRIV 4242LL
#define T0 1700000000000LL
#define MONO0 5000000LL

/* --- fake transport --- */

struct call {
	char method[32];
	cJSON *json;
	tg_done_fn fn;
	void *arg;
	int done;
};

static struct {
	struct call calls[256];
	size_t n;
} rec;

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct call *c;

	assert_true(rec.n < ARRAY_LEN(rec.calls));
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

static const char *call_text(size_t i)
{
	const cJSON *t = cJSON_GetObjectItem(rec.calls[i].json, "text");

	return cJSON_IsString(t) ? t->valuestring : "";
}

/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *st;
	struct ratelimit *rl;
	struct api *api;
	struct rng rng;
	struct stats stats;
	struct chats *chats;
	struct mutes *mutes;
	struct dispatch *ds;
	struct intake *in;
	int64_t next_msg;
};

static void start(struct fx *f)
{
	struct ratelimit_opts ro = {
		.global_per_second = 30, .chat_per_second = 1,
		.group_per_minute = 20, .margin_ms = 100, .reply_reserve = 3,
		.max_chats = 64,
	};
	struct api_opts ao = {
		.breaker_threshold = 5, .retry_base_ms = 1000,
		.retry_cap_ms = 300000, .retry_after_cap = 3600,
		.auth_retry_ms = 300000,
	};
	struct dispatch_deps dd = { 0 };
	struct intake_deps id = { 0 };
	char err[512];

	if (store_open(&f->st, f->path, f->clk.wall, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(f->rl = ratelimit_new(&ro));
	assert_non_null(f->api = api_new(&ao, &f->clk, &f->rng));
	assert_non_null(f->chats = chats_new(f->st));
	chats_load(f->chats, &f->cfg);
	assert_non_null(f->mutes = mutes_new(f->st, &f->clk));
	dd = (struct dispatch_deps){
		.cfg = &f->cfg, .clk = &f->clk, .store = f->st,
		.tg = (struct tg *)f, .rl = f->rl, .api = f->api,
		.rng = &f->rng, .chats = f->chats, .stats = &f->stats,
	};
	assert_non_null(f->ds = dispatch_new(&dd));
	id = (struct intake_deps){
		.cfg = &f->cfg, .clk = &f->clk, .store = f->st,
		.chats = f->chats, .mutes = f->mutes, .stats = &f->stats,
	};
	assert_non_null(f->in = intake_new(&id));
}

/* kill -9: everything in memory is gone, requests in flight never
 * answer (their jobs die with the process). */
static void crash(struct fx *f)
{
	for (size_t i = 0; i < rec.n; i++)
		if (!rec.calls[i].done && strcmp(rec.calls[i].method,
						 "sendMessage") == 0) {
			struct job *j = rec.calls[i].arg;

			if (j->chat->busy == j)
				j->chat->busy = NULL;
			job_free(j);
			rec.calls[i].done = 1;
		}
	intake_free(f->in);
	dispatch_free(f->ds);
	mutes_free(f->mutes);
	chats_free(f->chats);
	api_free(f->api);
	ratelimit_free(f->rl);
	store_rollback(f->st);
	store_close(f->st);
	f->st = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "reliab") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
	setenv("TZ", "UTC", 1);
	config_defaults(&f->cfg);
	f->cfg.chats[f->cfg.nchats++] = PRIV;
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.pack = 0;
	f->cfg.buttons = 0;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rng_seed(&f->rng, 7);
	stats_init(&f->stats);
	f->next_msg = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->st != NULL)
		crash(f);
	for (size_t i = 0; i < rec.n; i++)
		cJSON_Delete(rec.calls[i].json);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static void advance(struct fx *f, int64_t ms)
{
	f->clk.now += ms;
	f->clk.wall += ms;
}

/* The end of a loop turn: commit (made to fail when `fail`, as on a
 * full disk: SQLite lost the transaction), then the committed hooks. */
static int turn_end(struct fx *f, int fail)
{
	int ok;

	if (fail && store_in_txn(f->st))
		f->st->txn_lost = 1;
	ok = store_commit(f->st) == 0;
	if (fail && !store_in_txn(f->st) && ok)
		ok = 1; /* nothing written: nothing to lose */
	dispatch_committed(f->ds, ok);
	mutes_committed(f->mutes, ok);
	return ok;
}

/* One turn of dispatch; returns how many requests it started. */
static size_t turn(struct fx *f, int fail)
{
	size_t before = rec.n;

	dispatch_run(f->ds);
	turn_end(f, fail);
	return rec.n - before;
}

static void answer(struct fx *f, size_t i, long status, const char *body,
		   int fail)
{
	struct call *c = &rec.calls[i];
	struct tg_reply r;

	assert_false(c->done);
	tg_classify(&r, 0, NULL, status, body, strlen(body));
	c->done = 1;
	c->fn(c->arg, &r);
	tg_reply_free(&r);
	turn_end(f, fail);
}

static void answer_ok(struct fx *f, size_t i, int fail)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"ok\":true,\"result\":{\"message_id\":"
		 "%lld,\"date\":1700000000,\"chat\":{\"id\":1,\"type\":"
		 "\"private\"},\"text\":\"x\"}}", (long long)f->next_msg++);
	answer(f, i, 200, body, fail);
}

static int64_t submit(struct fx *f, enum severity sev, int status,
		      const char *key, int64_t uid, const char *title)
{
	struct intake_origin o = { INTAKE_SOCKET, uid, 1 };
	struct alert a;
	char err[256];
	int64_t id;

	fx_alert(&a, sev, "db1", title, "details", 0);
	a.status = (enum alert_status)status;
	a.key = fx_strdup(key);
	assert_int_equal(intake_submit(f->in, &a, &o, err, sizeof(err)), 0);
	id = a.id;
	alert_free(&a);
	assert_int_equal(turn_end(f, 0), 1);
	return id;
}

static struct delivery row(struct fx *f, int64_t id, int64_t chat)
{
	struct delivery dl[8];
	int n = store_deliveries(f->st, id, dl, 8);

	for (int i = 0; i < n; i++)
		if (dl[i].chat_id == chat)
			return dl[i];
	fail_msg("no delivery of %lld to %lld", (long long)id,
		 (long long)chat);
	return dl[0];
}

/* How many requests carried text containing s. */
static int sent_count(const char *s)
{
	int n = 0;

	for (size_t i = 0; i < rec.n; i++)
		if (strstr(call_text(i), s) != NULL)
			n++;
	return n;
}

/* --- item 1: disk full while deliveries are queued --- */

static void test_full_disk_sends_each_alert_once(void **state)
{
	struct fx *f = *state;
	int64_t ids[3];
	char title[32];

	f->cfg.nchats = 1; /* PRIV only */
	start(f);
	for (int i = 0; i < 3; i++) {
		snprintf(title, sizeof(title), "queued-%d", i);
		ids[i] = submit(f, SEV_ERROR, ALERT_FIRING, NULL, 1000, title);
	}
	/* The disk fills: the turn that starts the first send cannot
	 * commit its SENDING, nor the next its SENT. */
	assert_int_equal(turn(f, 1), 1);
	assert_int_equal(store_healthy(f->st), 0);
	answer_ok(f, 0, 1);
	for (int i = 0; i < 30; i++) {
		advance(f, 1100);
		assert_int_equal(turn(f, 1), 0);
		/* nothing to do but the rewrite: the loop sleeps */
		assert_true(dispatch_next(f->ds) >= f->clk.now);
	}
	assert_int_equal(sent_count("queued-0"), 1);
	/* Room again: the kept rows are written, then the rest goes. */
	advance(f, 1100);
	assert_int_equal(turn(f, 0), 0);
	assert_int_equal(store_healthy(f->st), 1);
	assert_int_equal(row(f, ids[0], PRIV).state, DS_SENT);
	for (int i = 0; i < 10 && rec.n < 3; i++) {
		advance(f, 1100);
		turn(f, 0);
		for (size_t k = 0; k < rec.n; k++)
			if (!rec.calls[k].done)
				answer_ok(f, k, 0);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(title, sizeof(title), "queued-%d", i);
		assert_int_equal(sent_count(title), 1);
		assert_int_equal(row(f, ids[i], PRIV).state, DS_SENT);
	}
	advance(f, 5000);
	assert_int_equal(turn(f, 0), 0);
}

/* The rows of the failed turn stay owed even when a later commit (an
 * alert coming in) succeeds before the rewrite: sends stay held until
 * the journal itself is on disk. */
static void test_held_until_the_journal_is_written(void **state)
{
	struct fx *f = *state;
	int64_t id;

	f->cfg.nchats = 1;
	start(f);
	id = submit(f, SEV_ERROR, ALERT_FIRING, NULL, 1000, "first");
	assert_int_equal(turn(f, 1), 1);
	answer_ok(f, 0, 1);
	submit(f, SEV_ERROR, ALERT_FIRING, NULL, 1000, "second");
	/* that commit worked: the next turn writes the journal at once */
	advance(f, 10);
	assert_int_equal(turn(f, 0), 0);
	assert_int_equal(row(f, id, PRIV).state, DS_SENT);
	advance(f, 1100);
	assert_int_equal(turn(f, 0), 1);
	assert_non_null(strstr(call_text(1), "second"));
	assert_int_equal(sent_count("first"), 1);
}

/* --- item 13: 429 blocks outlive the process --- */

static void test_429_block_survives_restart(void **state)
{
	struct fx *f = *state;
	int64_t t429;

	f->cfg.nchats = 1;
	start(f);
	submit(f, SEV_ERROR, ALERT_FIRING, NULL, 1000, "one");
	submit(f, SEV_ERROR, ALERT_FIRING, NULL, 1000, "two");
	assert_int_equal(turn(f, 0), 1);
	answer(f, 0, 429, "{\"ok\":false,\"error_code\":429,\"description\":"
	       "\"Too Many Requests: retry after 30\",\"parameters\":"
	       "{\"retry_after\":30}}", 0);
	t429 = f->clk.wall;
	crash(f);
	/* restart: a new monotonic clock, the same wall clock */
	f->clk.now = 99000000;
	advance(f, 2000);
	start(f);
	for (int i = 0; i < 27; i++) {
		advance(f, 1000);
		assert_int_equal(turn(f, 0), 0);
		assert_true(dispatch_next(f->ds) >=
			    clock_wall_to_mono(&f->clk, t429 + 30000));
	}
	advance(f, 1200);
	assert_int_equal(f->clk.wall >= t429 + 30000, 1);
	assert_int_equal(turn(f, 0), 1);
}

/* --- item 17: a long alert resumes after its delivered parts --- */

static void test_restart_resumes_long_alert(void **state)
{
	struct fx *f = *state;
	struct intake_origin o = { INTAKE_SOCKET, 1000, 1 };
	struct alert a;
	char err[256], *text, marker[32];
	size_t len = 30000, first_after;
	int64_t id;

	f->cfg.nchats = 1;
	start(f);
	/* ~8 parts: distinct numbered words so every part is unique */
	text = malloc(len + 1);
	assert_non_null(text);
	for (size_t p = 0, w = 0; p < len - 16; w++)
		p += (size_t)snprintf(text + p, len - p, "w%05zu ", w);
	fx_alert(&a, SEV_ERROR, "db1", "long one", NULL, 0);
	a.text = text;
	assert_int_equal(intake_submit(f->in, &a, &o, err, sizeof(err)), 0);
	id = a.id;
	alert_free(&a);
	turn_end(f, 0);
	assert_int_equal(turn(f, 0), 1);
	for (int p = 0; p < 3; p++) {
		answer_ok(f, rec.n - 1, 0);
		advance(f, 1100);
		assert_int_equal(turn(f, 0), 1);
	}
	answer_ok(f, rec.n - 1, 0); /* part 4 is in the chat */
	assert_int_equal(row(f, id, PRIV).parts_sent, 4);
	advance(f, 1100);
	assert_int_equal(turn(f, 0), 1); /* part 5 leaves ... */
	crash(f);                        /* ... and the daemon dies */
	f->clk.now = 99000000;
	start(f);
	advance(f, 1100);
	first_after = rec.n;
	assert_int_equal(turn(f, 0), 1);
	/* the restart sends part 5 again, not part 1 */
	assert_string_equal(call_text(first_after), call_text(first_after - 1));
	for (int i = 0; i < 20; i++) {
		for (size_t k = 0; k < rec.n; k++)
			if (!rec.calls[k].done)
				answer_ok(f, k, 0);
		advance(f, 1100);
		turn(f, 0);
	}
	assert_int_equal(row(f, id, PRIV).state, DS_SENT);
	/* every part once, the one in flight at the kill twice */
	for (size_t i = 0; i < first_after; i++) {
		int copies = 0;

		for (size_t k = 0; k < rec.n; k++)
			copies += strcmp(call_text(k), call_text(i)) == 0;
		assert_int_equal(copies, i == first_after - 1 ? 2 : 1);
	}
	/* and the parts are the whole text: the last word arrived */
	snprintf(marker, sizeof(marker), "w%05zu", (size_t)0);
	assert_non_null(strstr(call_text(0), marker));
	assert_true(rec.n >= 6);
}

/* --- item 4: repeats --- */

static void test_higher_severity_is_new(void **state)
{
	struct fx *f = *state;
	int64_t w, c, c2, w2;

	f->cfg.nchats = 1;
	start(f);
	w = submit(f, SEV_WARNING, ALERT_FIRING, "disk", 1000, "warn");
	c = submit(f, SEV_CRITICAL, ALERT_FIRING, "disk", 1000, "crit");
	assert_int_equal(row(f, w, PRIV).state, DS_PENDING);
	assert_int_equal(row(f, c, PRIV).state, DS_PENDING);
	/* the same or less severe again: a repeat of the critical */
	c2 = submit(f, SEV_CRITICAL, ALERT_FIRING, "disk", 1000, "crit2");
	w2 = submit(f, SEV_WARNING, ALERT_FIRING, "disk", 1000, "warn2");
	assert_int_equal(row(f, c2, PRIV).state, DS_SUPPRESSED);
	assert_int_equal(row(f, w2, PRIV).state, DS_SUPPRESSED);

	/* after an ack of a warning, a critical still rings */
	assert_int_equal(store_ack(f->st, c, "alice", f->clk.wall), 0);
	turn_end(f, 0);
	w = submit(f, SEV_WARNING, ALERT_FIRING, "net", 1000, "n-warn");
	assert_int_equal(store_ack(f->st, w, "alice", f->clk.wall), 0);
	turn_end(f, 0);
	advance(f, 700000); /* past the repeat window: acked stays quiet */
	w2 = submit(f, SEV_WARNING, ALERT_FIRING, "net", 1000, "n-warn2");
	assert_int_equal(row(f, w2, PRIV).state, DS_SUPPRESSED);
	c = submit(f, SEV_CRITICAL, ALERT_FIRING, "net", 1000, "n-crit");
	assert_int_equal(row(f, c, PRIV).state, DS_PENDING);
}

static void test_keys_belong_to_their_sender(void **state)
{
	struct fx *f = *state;
	int64_t mine, theirs, res, again;

	f->cfg.nchats = 1;
	start(f);
	assert_int_equal(f->cfg.key_scope, KEY_SCOPE_UID); /* the default */
	mine = submit(f, SEV_ERROR, ALERT_FIRING, "db", 1000, "mine");
	/* another uid reusing the key is not a repeat of mine ... */
	theirs = submit(f, SEV_ERROR, ALERT_FIRING, "db", 2000, "theirs");
	assert_int_equal(row(f, theirs, PRIV).state, DS_PENDING);
	/* ... and its resolve does not end mine */
	res = submit(f, SEV_ERROR, ALERT_RESOLVED, "db", 2000, "their fix");
	again = submit(f, SEV_ERROR, ALERT_FIRING, "db", 1000, "mine again");
	assert_int_equal(row(f, again, PRIV).state, DS_SUPPRESSED);
	(void)mine;
	(void)res;

	/* shared: one namespace, as before */
	f->cfg.key_scope = KEY_SCOPE_SHARED;
	again = submit(f, SEV_ERROR, ALERT_FIRING, "db", 3000, "shared");
	assert_int_equal(row(f, again, PRIV).state, DS_PENDING);
	again = submit(f, SEV_ERROR, ALERT_FIRING, "db", 1000, "shared 2");
	assert_int_equal(row(f, again, PRIV).state, DS_SUPPRESSED);
}

/* A resolve from another uid does not edit this uid's message. */
static void test_resolve_edits_only_own_alert(void **state)
{
	struct fx *f = *state;

	f->cfg.nchats = 1;
	start(f);
	submit(f, SEV_ERROR, ALERT_FIRING, "db", 1000, "mine");
	assert_int_equal(turn(f, 0), 1);
	answer_ok(f, 0, 0);
	submit(f, SEV_ERROR, ALERT_RESOLVED, "db", 2000, "their fix");
	advance(f, 1100);
	assert_int_equal(turn(f, 0), 1);
	/* a message of its own, not an edit of (or reply to) mine */
	assert_string_equal(rec.calls[1].method, "sendMessage");
	assert_null(cJSON_GetObjectItem(rec.calls[1].json,
					"reply_parameters"));
	assert_null(cJSON_GetObjectItem(rec.calls[1].json,
					"reply_to_message_id"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_full_disk_sends_each_alert_once),
		T(test_held_until_the_journal_is_written),
		T(test_429_block_survives_restart),
		T(test_restart_resumes_long_alert),
		T(test_higher_severity_is_new),
		T(test_keys_belong_to_their_sender),
		T(test_resolve_edits_only_own_alert),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
