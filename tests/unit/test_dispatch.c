/*
 * test_dispatch.c - unit tests for bot/dispatch.c and its outbox: what
 * each Bot API answer does to the delivery rows and to the pacing (rate
 * limiter, the API state's circuit breaker and 401 pause), packing of a
 * backlog, the resolved edit + reply, and the reply lane.
 *
 * The real store (temp directory), formatter, wire format, rate limiter,
 * backoff, breaker, API state, chat table, stats and rng are included.
 * tg_call is faked: it records the method, the body and the completion
 * (fn, arg); a test answers a request by running the real tg_classify on
 * a canned HTTP status and body and calling fn(arg, &reply). The clock
 * (f->clk) is set by hand; nothing sleeps. The logger is faked (quiet; it
 * counts).
 */
#include <math.h>
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
#include "bot/tgapi.c"
#include "bot/tz.c"
#include "bot/config.c"
#include "alerts/template.c"
#include "alerts/route.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/rng.c"
#include "bot/ratelimit.c"
#include "bot/stats.c"
#include "bot/api.c"
#include "bot/chats.c"
#include "bot/outbox.c"
#include "bot/dispatch.c"

#include "tests/unit/fixture.h"

#define GROUP (-1001000000001LL)
#define PRIV 4242LL
#define NEWGROUP (-1009999LL)
#define ADMIN 111LL
#define T0 1700000000000LL
#define MONO0 5000000LL
#define AUTH_RETRY_MS 300000 /* as the daemon's */

/* --- fakes --- */

struct call {
	char method[32];
	char *body;
	cJSON *json;
	tg_done_fn fn;
	void *arg;
	int done;
	int64_t at; /* clk.now when it started */
};

static struct {
	struct call *calls;
	size_t n, cap;
	const struct clock *clk; /* the fixture's, for tg_call */
} rec;

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct call *c;

	assert_non_null(body);
	if (rec.n == rec.cap) {
		size_t cap = rec.cap ? rec.cap * 2 : 64;
		struct call *p = realloc(rec.calls, cap * sizeof(*p));

		assert_non_null(p);
		rec.calls = p;
		rec.cap = cap;
	}
	c = &rec.calls[rec.n++];
	memset(c, 0, sizeof(*c));
	str_copy(c->method, method, sizeof(c->method));
	c->body = body;
	c->json = cJSON_Parse(body);
	assert_non_null(c->json);
	c->fn = fn;
	c->arg = arg;
	c->at = rec.clk->now;
	return 0;
}

/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *store;
	struct ratelimit *rl;
	struct rng rng;
	struct api *api;
	struct stats stats;
	struct chats *chats;
	struct dispatch *ds;
	struct outbox *ob; /* the dispatch's */
	int64_t next_msg;
};

static struct dispatch *fx_dispatch(struct fx *f, struct chats *chats)
{
	struct dispatch_deps dd = {
		.cfg = &f->cfg, .clk = &f->clk, .store = f->store,
		.tg = (struct tg *)f, /* never dereferenced: tg_call is fake */
		.rl = f->rl, .api = f->api, .rng = &f->rng, .chats = chats,
		.stats = &f->stats,
	};

	return dispatch_new(&dd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ratelimit_opts ro = {
		.global_per_second = 30, .chat_per_second = 1,
		.group_per_minute = 20, .margin_ms = 100, .reply_reserve = 3,
		.max_chats = 64,
	};
	struct api_opts ao;
	char err[256];

	if (f == NULL)
		return -1;
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
	setenv("TZ", "UTC", 1);
	if (fx_tmpdir(f->dir, sizeof(f->dir), "disp") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	config_defaults(&f->cfg);
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.chats[f->cfg.nchats++] = PRIV;
	f->cfg.admins[f->cfg.nadmins++] = ADMIN;
	f->cfg.retry_base = 1;
	f->cfg.retry_cap = 300;
	f->cfg.max_age = 86400;
	f->cfg.breaker_threshold = 5;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rec.clk = &f->clk;
	f->rl = ratelimit_new(&ro);
	if (f->rl == NULL)
		return -1;
	rng_seed(&f->rng, 42);
	ao = (struct api_opts){
		.breaker_threshold = f->cfg.breaker_threshold,
		.retry_base_ms = (int64_t)(f->cfg.retry_base * 1000),
		.retry_cap_ms = (int64_t)(f->cfg.retry_cap * 1000),
		.retry_after_cap = f->cfg.retry_after_cap,
		.auth_retry_ms = AUTH_RETRY_MS,
	};
	f->api = api_new(&ao, &f->clk, &f->rng);
	f->chats = chats_new(f->store);
	if (f->api == NULL || f->chats == NULL)
		return -1;
	stats_init(&f->stats);
	chats_load(f->chats, &f->cfg);
	f->ds = fx_dispatch(f, f->chats);
	if (f->ds == NULL)
		return -1;
	f->ob = dispatch_outbox(f->ds);
	f->next_msg = 1000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	/* Requests never answered: dispatch frees their jobs and messages
	 * (the transfers are aborted without calling back). */
	dispatch_free(f->ds);
	chats_free(f->chats);
	api_free(f->api);
	ratelimit_free(f->rl);
	store_close(f->store);
	for (size_t i = 0; i < rec.n; i++) {
		free(rec.calls[i].body);
		cJSON_Delete(rec.calls[i].json);
	}
	free(rec.calls);
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* --- helpers --- */

static void advance(struct fx *f, int64_t ms)
{
	f->clk.now += ms;
	f->clk.wall += ms;
}

/* The end of a loop turn: its writes are committed, then the outbox
 * releases what the turn queued for the operators. */
static void turn_end(struct fx *f)
{
	assert_int_equal(store_commit(f->store), 0);
	outbox_committed(f->ob, 1);
}

/* A reply queued by a command in a turn that committed. */
static int reply(struct fx *f, int64_t chat, int64_t thread, const char *html,
		 const char *markup, int64_t reply_to)
{
	int rc = outbox_reply(f->ob, chat, thread, html, markup, reply_to);

	outbox_committed(f->ob, 1);
	return rc;
}

static int answer_callback(struct fx *f, const char *id, const char *text)
{
	int rc = outbox_answer_callback(f->ob, id, text);

	outbox_committed(f->ob, 1);
	return rc;
}

/* One loop turn's dispatch step, committed like the loop does. Returns
 * how many requests it started. */
static size_t run(struct fx *f)
{
	size_t before = rec.n;

	assert_int_equal(store_begin(f->store), 0);
	dispatch_run(f->ds);
	turn_end(f);
	return rec.n - before;
}

/* Answers request i with a canned HTTP status and body. */
static void answer(struct fx *f, size_t i, long status, const char *body)
{
	struct call *c;
	struct tg_reply r;

	assert_true(i < rec.n);
	c = &rec.calls[i];
	assert_false(c->done);
	tg_classify(&r, 0, NULL, status, body, strlen(body));
	c->done = 1;
	assert_int_equal(store_begin(f->store), 0);
	c->fn(c->arg, &r);
	turn_end(f);
	tg_reply_free(&r);
}

/* A network failure: no HTTP answer at all. */
static void answer_timeout(struct fx *f, size_t i)
{
	struct call *c = &rec.calls[i];
	struct tg_reply r;

	assert_false(c->done);
	tg_classify(&r, 28, "Operation timed out after 30000 milliseconds", 0,
		    NULL, 0);
	assert_int_equal(r.outcome, TG_TRANSIENT);
	c->done = 1;
	assert_int_equal(store_begin(f->store), 0);
	c->fn(c->arg, &r);
	turn_end(f);
	tg_reply_free(&r);
}

static void answer_ok(struct fx *f, size_t i, int64_t msg_id)
{
	char body[256];

	snprintf(body, sizeof(body),
		 "{\"ok\":true,\"result\":{\"message_id\":%lld,\"date\":1700000000,"
		 "\"chat\":{\"id\":1,\"type\":\"private\"},\"text\":\"x\"}}",
		 (long long)msg_id);
	answer(f, i, 200, body);
}

/* Answers every open request with 200 and a fresh message id. */
static void answer_all_ok(struct fx *f)
{
	for (size_t i = 0; i < rec.n; i++)
		if (!rec.calls[i].done)
			answer_ok(f, i, f->next_msg++);
}

static const char BODY_502[] =
	"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
	"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0"
	"</center>\r\n</body>\r\n</html>\r\n";

static void answer_502(struct fx *f, size_t i)
{
	answer(f, i, 502, BODY_502);
}

static int64_t add_alert_at(struct fx *f, enum severity sev, int status,
			    const char *key, const char *title,
			    const struct dest *dests, size_t n, int64_t at)
{
	struct alert a;
	int64_t id;

	fx_alert(&a, sev, "web-01", title, "details of the problem", at);
	a.status = (enum alert_status)status;
	a.key = fx_strdup(key);
	assert_int_equal(store_alert_insert(f->store, &a, dests, n,
					    DS_PENDING, 0), 0);
	assert_int_equal(store_commit(f->store), 0);
	id = a.id;
	assert_true(id > 0);
	alert_free(&a);
	return id;
}

static int64_t add_alert(struct fx *f, enum severity sev, int64_t chat,
			 const char *title)
{
	struct dest d = { chat, 0 };

	return add_alert_at(f, sev, ALERT_FIRING, NULL, title, &d, 1,
			    f->clk.wall);
}

static struct delivery row(struct fx *f, int64_t id, int64_t chat)
{
	struct delivery dl[8], none = { 0 };
	int n = store_deliveries(f->store, id, dl, 8);

	for (int i = 0; i < n; i++)
		if (dl[i].chat_id == chat)
			return dl[i];
	fail_msg("no delivery of alert %lld to %lld", (long long)id,
		 (long long)chat);
	return none;
}

static cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int64_t jint(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t call_chat(size_t i)
{
	return jint(rec.calls[i].json, "chat_id");
}

static const char *call_text(size_t i)
{
	const char *t = jstr(rec.calls[i].json, "text");

	return t ? t : "";
}

/* Index of the last call, which must exist. */
static size_t last(void)
{
	assert_true(rec.n > 0);
	return rec.n - 1;
}

/* Calls started since mark that went to chat (any method). */
static size_t calls_to(size_t mark, int64_t chat)
{
	size_t k = 0;

	for (size_t i = mark; i < rec.n; i++)
		if (call_chat(i) == chat)
			k++;
	return k;
}

static void set_clock_mono(struct fx *f, int64_t mono)
{
	if (mono > f->clk.now)
		advance(f, mono - f->clk.now);
}

/* --- 200 ok --- */

static void test_ok_warning_silent(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_WARNING, GROUP, "disk 85% full");
	struct delivery r;
	const cJSON *b;

	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[0].method, "sendMessage");
	b = rec.calls[0].json;
	assert_int_equal(jint(b, "chat_id"), GROUP);
	assert_string_equal(jstr(b, "parse_mode"), "HTML");
	assert_true(cJSON_IsTrue(jget(b, "disable_notification")));
	assert_null(jget(b, "reply_markup")); /* no buttons below error */
	assert_null(jget(b, "message_thread_id"));
	assert_non_null(strstr(call_text(0), "disk 85% full"));
	assert_int_equal(dispatch_inflight(f->ds), 1);
	assert_int_equal(row(f, id, GROUP).state, DS_SENDING);

	advance(f, 350);
	answer_ok(f, 0, 77);
	r = row(f, id, GROUP);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.message_id, 77);
	assert_int_equal(r.sent_at, f->clk.wall);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.due_at, 0);
	assert_string_equal(r.last_error, "");
	assert_int_equal(r.flags & DF_PACKED, 0);
	assert_int_equal(dispatch_inflight(f->ds), 0);
	assert_int_equal(f->stats.deliveries[ST_DELIVERY_SENT], 1);
	/* nothing else to do */
	assert_int_equal(run(f), 0);
	assert_true(dispatch_next(f->ds) == INT64_MAX);
}

static void check_buttons(size_t i, int64_t id)
{
	const cJSON *kb = jget(jget(rec.calls[i].json, "reply_markup"),
			       "inline_keyboard");
	const cJSON *row0 = cJSON_GetArrayItem(kb, 0);
	char ack[32], mute[32];

	assert_true(cJSON_IsArray(kb));
	assert_int_equal(cJSON_GetArraySize(row0), 2);
	snprintf(ack, sizeof(ack), "ack:%lld", (long long)id);
	snprintf(mute, sizeof(mute), "mute:%lld", (long long)id);
	assert_string_equal(jstr(cJSON_GetArrayItem(row0, 0), "callback_data"),
			    ack);
	assert_string_equal(jstr(cJSON_GetArrayItem(row0, 1), "callback_data"),
			    mute);
}

static void test_ok_critical_rings_with_buttons(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, PRIV, "db primary down");
	int64_t id2;
	const cJSON *b;
	const cJSON *dn;
	struct delivery r;

	assert_int_equal(run(f), 1);
	b = rec.calls[0].json;
	assert_int_equal(jint(b, "chat_id"), PRIV);
	assert_string_equal(jstr(b, "parse_mode"), "HTML");
	dn = jget(b, "disable_notification");
	assert_true(dn == NULL || cJSON_IsFalse(dn));
	check_buttons(0, id);
	answer_ok(f, 0, 77);
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.message_id, 77);
	assert_int_equal(r.attempts, 1);

	/* error severity: buttons too, and it rings */
	advance(f, 2000);
	id2 = add_alert(f, SEV_ERROR, PRIV, "5xx rate high");
	assert_int_equal(run(f), 1);
	dn = jget(rec.calls[1].json, "disable_notification");
	assert_true(dn == NULL || cJSON_IsFalse(dn));
	check_buttons(1, id2);
	answer_ok(f, 1, 78);
	assert_int_equal(row(f, id2, PRIV).message_id, 78);
}

/* --- transient failures, backoff and the breaker --- */

static void test_transient_backoff_breaker(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, PRIV, "db primary down");
	struct delivery r;
	int64_t due, next;
	int fails = 1;
	size_t mark;
	int saw_group = 0, saw_priv = 0;

	assert_int_equal(run(f), 1);
	advance(f, 200);
	answer_502(f, 0);
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_RETRYING);
	assert_int_equal(r.attempts, 1);
	assert_true(r.last_error[0] != '\0');
	/* full jitter over base 1 s * 2^0 */
	assert_true(r.due_at > f->clk.wall);
	assert_true(r.due_at <= f->clk.wall + 2000);
	assert_int_equal(f->api->breaker.state, BREAKER_CLOSED);
	assert_int_equal(f->stats.retries[ST_RETRY_5XX], 1);

	/* nothing before due_at */
	assert_int_equal(run(f), 0);
	assert_true(dispatch_next(f->ds) >= clock_wall_to_mono(&f->clk,
								 r.due_at));
	if (r.due_at - 1 > f->clk.wall) {
		advance(f, r.due_at - 1 - f->clk.wall);
		assert_int_equal(run(f), 0);
	}

	/* four more transient failures open the breaker */
	while (fails < 5) {
		r = row(f, id, PRIV);
		due = clock_wall_to_mono(&f->clk, r.due_at);
		next = dispatch_next(f->ds);
		assert_true(next >= due);
		set_clock_mono(f, next);
		assert_int_equal(run(f), 1);
		answer_502(f, last());
		fails++;
		r = row(f, id, PRIV);
		assert_int_equal(r.attempts, fails);
		assert_true(r.due_at >= f->clk.wall);
		/* ceiling of full jitter: base * 2^(attempts-1) */
		assert_true(r.due_at <= f->clk.wall + (1000LL << (fails - 1)));
	}
	assert_int_equal(f->api->breaker.state, BREAKER_OPEN);

	/* open: nothing starts until breaker_next, even a due row */
	next = breaker_next(&f->api->breaker, f->clk.now);
	assert_true(next > f->clk.now);
	assert_true(dispatch_next(f->ds) >= next);
	assert_int_equal(run(f), 0);
	/* just before the probe time, even with the row due: nothing */
	if (next - 1 > f->clk.now) {
		set_clock_mono(f, next - 1);
		assert_int_equal(run(f), 0);
	}

	/* the probe */
	set_clock_mono(f, dispatch_next(f->ds));
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(f->api->breaker.state, BREAKER_HALF_OPEN);
	assert_int_equal(call_chat(mark), PRIV);
	/* one probe at a time */
	assert_int_equal(run(f), 0);
	answer_ok(f, mark, 77);
	assert_int_equal(f->api->breaker.state, BREAKER_CLOSED);
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.attempts, 6);

	/* recovery summary to every default chat */
	mark = rec.n;
	run(f);
	for (size_t i = mark; i < rec.n; i++) {
		if (strstr(call_text(i), "unreachable") == NULL)
			continue;
		saw_group |= call_chat(i) == GROUP;
		saw_priv |= call_chat(i) == PRIV;
	}
	assert_true(saw_group);
	assert_true(saw_priv);
	answer_all_ok(f);
}

/* A timeout (no HTTP answer) does not use up the chat's allowance. */
static void test_timeout_gives_back_allowance(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, PRIV, "db primary down");
	int64_t before = ratelimit_when(f->rl, PRIV, LANE_REPLY, f->clk.now);

	assert_int_equal(run(f), 1);
	answer_timeout(f, 0);
	assert_int_equal(row(f, id, PRIV).state, DS_RETRYING);
	/* the send was taken back: the bucket is as it was */
	assert_int_equal(ratelimit_when(f->rl, PRIV, LANE_ALERT, f->clk.now),
			 f->clk.now);
	assert_int_equal(ratelimit_when(f->rl, PRIV, LANE_REPLY, f->clk.now),
			 before);
}

/* --- 429 --- */

static const char BODY_429_7[] =
	"{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: "
	"retry after 7\",\"parameters\":{\"retry_after\":7}}";

static void test_rate_limited(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, GROUP, "db primary down");
	struct dest both[2] = { { GROUP, 0 }, { PRIV, 0 } };
	int64_t id2, t429;
	struct delivery r;
	size_t mark;

	assert_int_equal(run(f), 1);
	answer(f, 0, 429, BODY_429_7);
	t429 = f->clk.now;
	assert_int_equal(f->stats.retries[ST_RETRY_429], 1);
	assert_int_equal(ratelimit_when(f->rl, GROUP, LANE_ALERT, f->clk.now),
			 t429 + 7000);
	assert_int_equal(ratelimit_blocked_until(f->rl, GROUP), t429 + 7000);
	r = row(f, id, GROUP);
	assert_int_equal(r.state, DS_RETRYING);
	assert_int_equal(r.attempts, 1);
	assert_true(r.due_at >= f->clk.wall + 7000);
	assert_true(r.due_at <= f->clk.wall + 7000 + 1000);
	assert_non_null(strstr(r.last_error, "retry after"));
	/* a 429 is an answer: the breaker does not count it */
	assert_int_equal(f->api->breaker.failures, 0);

	/* another alert to both chats: PRIV is not blocked, GROUP is */
	id2 = add_alert_at(f, SEV_ERROR, ALERT_FIRING, NULL, "api slow", both,
			   2, f->clk.wall);
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(mark), PRIV);
	answer_ok(f, mark, 90);
	assert_int_equal(row(f, id2, PRIV).state, DS_SENT);
	assert_int_equal(row(f, id2, GROUP).state, DS_PENDING);
	assert_true(dispatch_next(f->ds) >= t429 + 7000);

	/* a reply to the chat waits as well */
	assert_int_equal(reply(f, GROUP, 0, "pong", NULL, 0), 0);
	set_clock_mono(f, t429 + 6900);
	mark = rec.n;
	run(f);
	assert_int_equal(calls_to(mark, GROUP), 0);

	set_clock_mono(f, t429 + 7000);
	mark = rec.n;
	run(f);
	assert_int_equal(calls_to(mark, GROUP), 1);
	answer_all_ok(f);
}

static void test_rate_limited_capped(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, GROUP, "db primary down");
	int cap = f->cfg.retry_after_cap;
	struct delivery r;

	assert_int_equal(cap, 3600);
	assert_int_equal(run(f), 1);
	answer(f, 0, 429,
	       "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
	       "Requests: retry after 99999\",\"parameters\":{\"retry_after\":"
	       "99999}}");
	assert_int_equal(ratelimit_blocked_until(f->rl, GROUP),
			 f->clk.now + (int64_t)cap * 1000);
	r = row(f, id, GROUP);
	assert_int_equal(r.state, DS_RETRYING);
	assert_int_equal(r.due_at, f->clk.wall + (int64_t)cap * 1000);
	assert_true(fake_log_warnings > 0); /* the operators are told in the log */
	/* PRIV is unaffected */
	assert_int_equal(ratelimit_blocked_until(f->rl, PRIV), 0);
}

/* --- 400 can't parse entities --- */

static const char BODY_BAD_HTML[] =
	"{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: can't "
	"parse entities: Unsupported start tag \\\"br\\\" at byte offset 12\"}";

static void test_bad_html_plain_then_failed(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, PRIV, "db primary down");
	struct delivery r;

	assert_int_equal(run(f), 1);
	assert_string_equal(jstr(rec.calls[0].json, "parse_mode"), "HTML");
	answer(f, 0, 400, BODY_BAD_HTML);
	r = row(f, id, PRIV);
	assert_true(r.flags & DF_PLAIN);
	assert_int_equal(r.state, DS_PENDING);
	assert_int_equal(r.due_at, f->clk.wall);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(f->api->breaker.failures, 0);

	/* resent at once, as plain text */
	assert_int_equal(run(f), 1);
	assert_null(jget(rec.calls[1].json, "parse_mode"));
	assert_int_equal(call_chat(1), PRIV);
	assert_non_null(strstr(call_text(1), "db primary down"));
	assert_null(strstr(call_text(1), "<b>"));

	answer(f, 1, 400, BODY_BAD_HTML);
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_FAILED);
	assert_int_equal(r.due_at, 0);
	assert_non_null(strstr(r.last_error, "can't parse entities"));
	assert_int_equal(run(f), 0);
}

/* --- chat not found / blocked --- */

static int status_has_failed(struct fx *f, int64_t chat, const char *why)
{
	cJSON *o = cJSON_CreateObject(), *it;
	int found = 0;

	dispatch_status(f->ds, o);
	cJSON_ArrayForEach(it, jget(o, "failed_chats"))
		if (jint(it, "chat") == chat &&
		    (why == NULL || strcmp(jstr(it, "reason"), why) == 0))
			found = 1;
	cJSON_Delete(o);
	return found;
}

static void chat_gone_case(struct fx *f, int64_t chat, long status,
			   const char *body, const char *desc)
{
	int64_t other = chat == GROUP ? PRIV : GROUP;
	int64_t id = add_alert(f, SEV_CRITICAL, chat, "db primary down");
	int64_t id2;
	struct delivery r;
	size_t mark;

	assert_int_equal(run(f), 1);
	answer(f, 0, status, body);
	r = row(f, id, chat);
	assert_int_equal(r.state, DS_FAILED);
	assert_int_equal(r.due_at, 0);
	assert_string_equal(r.last_error, desc);
	assert_true(status_has_failed(f, chat, desc));
	assert_false(status_has_failed(f, other, NULL));

	/* the operators hear about it in the other default chat */
	mark = rec.n;
	run(f);
	assert_int_equal(calls_to(mark, chat), 0);
	assert_int_equal(calls_to(mark, other), 1);
	answer_all_ok(f);

	/* a later alert to that chat: failed without a request */
	advance(f, 5000);
	id2 = add_alert(f, SEV_CRITICAL, chat, "db replica down");
	mark = rec.n;
	run(f);
	assert_int_equal(rec.n, mark);
	r = row(f, id2, chat);
	assert_int_equal(r.state, DS_FAILED);
	assert_string_equal(r.last_error, desc);

	/* /retry_now */
	dispatch_retry_now(f->ds);
	assert_false(status_has_failed(f, chat, NULL));
	assert_int_equal(store_retry_now(f->store, 0, f->clk.wall), 2);
	assert_int_equal(store_commit(f->store), 0);
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(mark), chat);
	answer_ok(f, mark, 501);
	advance(f, 2000);
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(last()), chat);
	answer_ok(f, last(), 502);
	assert_int_equal(row(f, id, chat).state, DS_SENT);
	assert_int_equal(row(f, id2, chat).state, DS_SENT);
}

static void test_chat_not_found(void **state)
{
	chat_gone_case(*state, GROUP, 400,
		       "{\"ok\":false,\"error_code\":400,\"description\":"
		       "\"Bad Request: chat not found\"}",
		       "Bad Request: chat not found");
}

static void test_bot_blocked(void **state)
{
	chat_gone_case(*state, PRIV, 403,
		       "{\"ok\":false,\"error_code\":403,\"description\":"
		       "\"Forbidden: bot was blocked by the user\"}",
		       "Forbidden: bot was blocked by the user");
}

/* --- migration --- */

static void test_migrated(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, GROUP, "db primary down");
	char key[64], val[64];
	struct delivery dl[4];
	struct chats *again;
	struct dispatch *ds2;
	size_t mark;

	assert_int_equal(run(f), 1);
	answer(f, 0, 400,
	       "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
	       "group chat was upgraded to a supergroup chat\",\"parameters\":"
	       "{\"migrate_to_chat_id\":-1009999}}");
	assert_int_equal(store_deliveries(f->store, id, dl, 4), 1);
	assert_int_equal(dl[0].chat_id, NEWGROUP);
	assert_int_equal(dl[0].state, DS_PENDING);
	assert_true(dl[0].due_at <= f->clk.wall);
	assert_int_equal(chats_resolve(f->chats, GROUP), NEWGROUP);
	snprintf(key, sizeof(key), "migrate:%lld", (long long)GROUP);
	assert_int_equal(store_kv_get(f->store, key, val, sizeof(val)), 1);
	assert_string_equal(val, "-1009999");
	assert_false(status_has_failed(f, GROUP, NULL));

	/* resent to the new id at once */
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(mark), NEWGROUP);
	answer_ok(f, mark, 88);
	assert_int_equal(row(f, id, NEWGROUP).state, DS_SENT);
	assert_int_equal(row(f, id, NEWGROUP).message_id, 88);

	/* a restarted daemon (a new chat table loaded from the store, and
	 * its dispatch) remembers it */
	again = chats_new(f->store);
	assert_non_null(again);
	chats_load(again, &f->cfg);
	assert_int_equal(chats_resolve(again, GROUP), NEWGROUP);
	assert_true(chats_index(again, NEWGROUP) >= 0);
	ds2 = fx_dispatch(f, again);
	assert_non_null(ds2);
	dispatch_free(ds2);
	chats_free(again);
}

/* A migrate_to_chat_id that makes no sense (the chat's own id) is a
 * server error: the rows stay with the chat and back off; nothing moves
 * and nothing is remembered (issue 16, item 12). */
static void test_migrated_to_itself(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, GROUP, "db primary down");
	char key[64], val[64], body[256];
	struct delivery r;

	assert_int_equal(run(f), 1);
	snprintf(body, sizeof(body),
		 "{\"ok\":false,\"error_code\":400,\"description\":\"Bad "
		 "Request: group chat was upgraded to a supergroup chat\","
		 "\"parameters\":{\"migrate_to_chat_id\":%lld}}",
		 (long long)GROUP);
	answer(f, 0, 400, body);
	r = row(f, id, GROUP);
	assert_int_equal(r.state, DS_RETRYING);
	assert_int_equal(r.attempts, 1);
	assert_true(r.due_at >= f->clk.wall);
	assert_int_equal(chats_resolve(f->chats, GROUP), GROUP);
	snprintf(key, sizeof(key), "migrate:%lld", (long long)GROUP);
	assert_int_equal(store_kv_get(f->store, key, val, sizeof(val)), 0);
	assert_true(fake_log_warnings > 0);
	/* not at once: it waits for its backoff */
	if (r.due_at > f->clk.wall)
		assert_int_equal(run(f), 0);
	set_clock_mono(f, clock_wall_to_mono(&f->clk, r.due_at));
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(last()), GROUP);
	answer_ok(f, last(), 90);
	assert_int_equal(row(f, id, GROUP).state, DS_SENT);
}

/* --- forum topic gone --- */

static void test_thread_gone(void **state)
{
	struct fx *f = *state;
	struct dest d = { GROUP, 7 };
	int64_t id = add_alert_at(f, SEV_CRITICAL, ALERT_FIRING, NULL,
				  "db primary down", &d, 1, f->clk.wall);
	struct delivery r;

	assert_int_equal(run(f), 1);
	assert_int_equal(jint(rec.calls[0].json, "message_thread_id"), 7);
	answer(f, 0, 400,
	       "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: "
	       "message thread not found\"}");
	r = row(f, id, GROUP);
	assert_true(r.flags & DF_NO_THREAD);
	assert_int_equal(r.state, DS_PENDING);
	assert_int_equal(r.due_at, f->clk.wall);

	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(1), GROUP);
	assert_null(jget(rec.calls[1].json, "message_thread_id"));
	assert_string_equal(jstr(rec.calls[1].json, "parse_mode"), "HTML");
	answer_ok(f, 1, 99);
	r = row(f, id, GROUP);
	assert_int_equal(r.state, DS_SENT);
	assert_true(r.flags & DF_NO_THREAD);
}

/* --- 401 --- */

static void test_unauthorized(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, PRIV, "db primary down");
	int64_t t401;
	struct delivery r;

	assert_int_equal(run(f), 1);
	answer(f, 0, 401,
	       "{\"ok\":false,\"error_code\":401,\"description\":"
	       "\"Unauthorized\"}");
	t401 = f->clk.now;
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_PENDING);
	assert_int_equal(r.attempts, 0);
	assert_true(api_paused(f->api));
	assert_true(fake_log_errors > 0);
	assert_int_equal(f->api->breaker.failures, 0);

	/* paused for 5 minutes, replies included */
	assert_int_equal(reply(f, PRIV, 0, "pong", NULL, 0), 0);
	assert_int_equal(run(f), 0);
	assert_int_equal(dispatch_next(f->ds), t401 + 300000);
	advance(f, 299999);
	assert_int_equal(run(f), 0);
	advance(f, 1);
	assert_true(run(f) >= 1);
	assert_int_equal(call_chat(1), PRIV);
	answer_all_ok(f);
	advance(f, 2000);
	run(f);
	answer_all_ok(f);
	assert_int_equal(row(f, id, PRIV).state, DS_SENT);
	assert_int_equal(row(f, id, PRIV).attempts, 1);
}

/* --- max_age --- */

static void test_max_age(void **state)
{
	struct fx *f = *state;
	struct dest d = { PRIV, 0 };
	int64_t id = add_alert_at(f, SEV_CRITICAL, ALERT_FIRING, NULL,
				  "db primary down", &d, 1,
				  f->clk.wall - 25LL * 3600 * 1000);
	struct delivery r;

	assert_int_equal(run(f), 1);
	answer_502(f, 0);
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_FAILED);
	assert_int_equal(r.due_at, 0);
	assert_non_null(strstr(r.last_error, "gave up after"));
	assert_int_equal(run(f), 0);
}

/* --- storm --- */

#define STORM 100

static void test_storm(void **state)
{
	struct fx *f = *state;
	struct dest d = { GROUP, 0 };
	int64_t ids[STORM + 400];
	size_t nids = 0, packed = 0;
	int64_t *times = NULL;
	size_t ntimes = 0, maxwin = 0;
	char title[64];
	int64_t msg;

	for (int i = 0; i < STORM; i++) {
		snprintf(title, sizeof(title), "host-%03d unreachable", i);
		ids[nids++] = add_alert_at(f, SEV_WARNING, ALERT_FIRING, NULL,
					   title, &d, 1, f->clk.wall);
	}
	/* a storm opens with its summary, then the packs */
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(call_text(0), "100 alerts queued"));
	answer_ok(f, 0, 499);
	set_clock_mono(f, dispatch_next(f->ds));
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(call_text(1), "📦"));
	for (size_t i = 0; i < nids; i++)
		if (row(f, ids[i], GROUP).state == DS_SENDING)
			packed++;
	assert_true(packed >= PACK_MIN_QUIET);
	answer_ok(f, 1, 500);
	for (size_t i = 0, k = 0; i < nids; i++) {
		struct delivery r = row(f, ids[i], GROUP);

		if (r.message_id != 500)
			continue;
		k++;
		assert_int_equal(r.state, DS_SENT);
		assert_true(r.flags & DF_PACKED);
		if (k == packed)
			break;
	}
	{
		size_t k = 0;

		for (size_t i = 0; i < nids; i++) {
			struct delivery r = row(f, ids[i], GROUP);

			if (r.state == DS_SENT) {
				assert_int_equal(r.message_id, 500);
				assert_true(r.flags & DF_PACKED);
				k++;
			}
		}
		assert_int_equal(k, packed);
	}

	/* then a steady flow for two minutes, 1 s steps; every request is
	 * answered at once */
	times = calloc(4096, sizeof(*times));
	assert_non_null(times);
	times[ntimes++] = rec.calls[0].at;
	times[ntimes++] = rec.calls[1].at;
	msg = 501;
	for (int s = 1; s <= 400; s++) {
		size_t mark;

		advance(f, 1000);
		if (s <= 120 && nids + 3 <= ARRAY_LEN(ids))
			for (int k = 0; k < 3; k++) {
				snprintf(title, sizeof(title), "flap %d.%d", s, k);
				ids[nids++] = add_alert_at(
					f, SEV_CRITICAL, ALERT_FIRING, NULL,
					title, &d, 1, f->clk.wall);
			}
		mark = rec.n;
		run(f);
		for (size_t i = mark; i < rec.n; i++) {
			assert_int_equal(call_chat(i), GROUP);
			assert_string_equal(rec.calls[i].method, "sendMessage");
			assert_true(ntimes < 4096);
			times[ntimes++] = rec.calls[i].at;
			answer_ok(f, i, msg++);
		}
	}
	/* never more than 17 (20 - 3 kept for replies) in any 60 s */
	for (size_t i = 0; i < ntimes; i++) {
		size_t k = 0;

		for (size_t j = i; j < ntimes; j++)
			if (times[j] - times[i] < 60000)
				k++;
		if (k > maxwin)
			maxwin = k;
		if (k > 17)
			fail_msg("%zu alert messages to the group within 60 s "
				 "from t=%lld", k,
				 (long long)(times[i] - MONO0));
	}
	if (getenv("DISPATCH_SHOW"))
		fprintf(stderr, "storm: first pack %zu rows, %zu alerts, %zu "
			"messages, at most %zu in 60 s\n", packed, nids, ntimes,
			maxwin);
	/* the limit was reached, so it was tested */
	assert_int_equal(maxwin, 17);
	/* and everything got there */
	for (size_t i = 0; i < nids; i++)
		assert_int_equal(row(f, ids[i], GROUP).state, DS_SENT);
	free(times);
}

/* --- resolved: edit the original, then reply under it --- */

static void test_resolved_edit_then_reply(void **state)
{
	struct fx *f = *state;
	struct dest d = { GROUP, 0 };
	int64_t orig = add_alert_at(f, SEV_CRITICAL, ALERT_FIRING, "disk:/var",
				    "disk full", &d, 1, f->clk.wall);
	int64_t res;
	struct delivery r;
	const cJSON *b;

	assert_int_equal(run(f), 1);
	answer_ok(f, 0, 77);
	assert_int_equal(row(f, orig, GROUP).message_id, 77);

	advance(f, 30000);
	res = add_alert_at(f, SEV_CRITICAL, ALERT_RESOLVED, "disk:/var",
			   "disk full", &d, 1, f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[1].method, "editMessageText");
	b = rec.calls[1].json;
	assert_int_equal(jint(b, "chat_id"), GROUP);
	assert_int_equal(jint(b, "message_id"), 77);
	assert_non_null(strstr(call_text(1), "RESOLVED"));
	answer_ok(f, 1, 77);
	r = row(f, res, GROUP);
	assert_int_equal(r.state, DS_PENDING);
	assert_true(r.flags & DF_EDITED);

	set_clock_mono(f, dispatch_next(f->ds));
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[2].method, "sendMessage");
	b = rec.calls[2].json;
	assert_int_equal(jint(b, "chat_id"), GROUP);
	assert_int_equal(jint(jget(b, "reply_parameters"), "message_id"), 77);
	assert_true(cJSON_IsTrue(jget(b, "disable_notification")));
	assert_null(jget(b, "reply_markup"));
	answer_ok(f, 2, 79);
	r = row(f, res, GROUP);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.message_id, 79);
	assert_true(r.flags & DF_EDITED);
	/* the original is untouched */
	assert_int_equal(row(f, orig, GROUP).state, DS_SENT);
	assert_int_equal(row(f, orig, GROUP).message_id, 77);
}

/* --- replies --- */

static void test_reply_before_alerts(void **state)
{
	struct fx *f = *state;
	int64_t a1 = add_alert(f, SEV_CRITICAL, GROUP, "one");
	int64_t a2 = add_alert(f, SEV_CRITICAL, GROUP, "two");
	int64_t a3;
	size_t mark;

	assert_int_equal(run(f), 1);
	answer_ok(f, 0, 1);
	assert_int_equal(run(f), 1); /* the chat's burst */
	answer_ok(f, 1, 2);
	assert_int_equal(row(f, a1, GROUP).state, DS_SENT);
	assert_int_equal(row(f, a2, GROUP).state, DS_SENT);

	/* the alert lane must wait now; the reply lane need not */
	a3 = add_alert(f, SEV_CRITICAL, GROUP, "three");
	assert_true(ratelimit_when(f->rl, GROUP, LANE_ALERT, f->clk.now) >
		    f->clk.now);
	assert_int_equal(reply(f, GROUP, 0, "<b>pong</b>", NULL,
					0), 0);
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(mark), GROUP);
	assert_string_equal(call_text(mark), "<b>pong</b>");
	assert_int_equal(row(f, a3, GROUP).state, DS_PENDING);
	answer_ok(f, mark, 3);

	/* the alert follows when its lane allows */
	set_clock_mono(f, dispatch_next(f->ds));
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(call_text(mark), "three"));
	answer_ok(f, mark, 4);
	assert_int_equal(row(f, a3, GROUP).state, DS_SENT);
}

static void test_reply_ahead_of_queued_alert(void **state)
{
	struct fx *f = *state;
	int64_t a1, a2;
	size_t mark;

	/* both due, and a reply queued: the reply goes first */
	a1 = add_alert(f, SEV_CRITICAL, GROUP, "one");
	a2 = add_alert(f, SEV_CRITICAL, GROUP, "two");
	assert_int_equal(reply(f, GROUP, 0, "status report",
					NULL, 0), 0);
	assert_int_equal(run(f), 1);
	assert_string_equal(call_text(0), "status report");
	answer_ok(f, 0, 1);
	mark = rec.n;
	set_clock_mono(f, dispatch_next(f->ds));
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(call_text(mark), "one"));
	answer_ok(f, mark, 2);
	set_clock_mono(f, dispatch_next(f->ds));
	run(f);
	answer_all_ok(f);
	assert_int_equal(row(f, a1, GROUP).state, DS_SENT);
	assert_int_equal(row(f, a2, GROUP).state, DS_SENT);
}

static void test_answer_callback_not_held(void **state)
{
	struct fx *f = *state;
	size_t mark;

	add_alert(f, SEV_CRITICAL, GROUP, "one");
	assert_int_equal(run(f), 1);
	answer(f, 0, 429, BODY_429_7);
	/* the chat's alert lane (and reply lane) must wait 7 s */
	assert_true(ratelimit_when(f->rl, GROUP, LANE_ALERT, f->clk.now) >
		    f->clk.now);
	assert_int_equal(answer_callback(f, "cb-1", "Acked"), 0);
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[mark].method, "answerCallbackQuery");
	assert_string_equal(jstr(rec.calls[mark].json, "callback_query_id"),
			    "cb-1");
	assert_string_equal(jstr(rec.calls[mark].json, "text"), "Acked");
	answer(f, mark, 200, "{\"ok\":true,\"result\":true}");

	/* also while an alert to the chat is in flight */
	set_clock_mono(f, dispatch_next(f->ds));
	mark = rec.n;
	assert_int_equal(run(f), 1);
	assert_int_equal(call_chat(mark), GROUP);
	assert_int_equal(answer_callback(f, "cb-2", "Muted"), 0);
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[mark + 1].method, "answerCallbackQuery");
	answer_all_ok(f);
}


/* --- multi-part alerts --- */

static int64_t add_long_alert(struct fx *f, int64_t chat)
{
	struct dest d = { chat, 0 };
	struct alert a;
	struct buf b;
	int64_t id;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 400; i++)
		assert_int_equal(buf_printf(&b, "line %04d: something failed "
					    "on a disk\n", i), 0);
	fx_alert(&a, SEV_CRITICAL, "web-01", "long report", NULL,
		 f->clk.wall);
	a.text = b.data; /* taken over */
	assert_int_equal(store_alert_insert(f->store, &a, &d, 1, DS_PENDING,
					    0), 0);
	assert_int_equal(store_commit(f->store), 0);
	id = a.id;
	alert_free(&a);
	return id;
}

static void test_multipart_sent_in_order(void **state)
{
	struct fx *f = *state;
	int64_t id = add_long_alert(f, PRIV);
	struct delivery r;
	size_t parts = 0;

	for (int s = 0; s < 60 && row(f, id, PRIV).state != DS_SENT; s++) {
		size_t mark = rec.n;

		run(f);
		for (size_t i = mark; i < rec.n; i++) {
			assert_int_equal(call_chat(i), PRIV);
			parts++;
			answer_ok(f, i, 300 + (int64_t)parts);
		}
		advance(f, 1000);
	}
	assert_true(parts >= 2);
	/* buttons on the last part only */
	for (size_t i = 0; i + 1 < parts; i++)
		assert_null(jget(rec.calls[i].json, "reply_markup"));
	check_buttons(parts - 1, id);
	assert_non_null(strstr(call_text(0), "line 0000"));
	assert_non_null(strstr(call_text(parts - 1), "line 0399"));
	r = row(f, id, PRIV);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.message_id, 301); /* the first part's */
	assert_int_equal(r.attempts, 1);
}

/*
 * A 429 on the second part: Telegram already shows the first. After the
 * wait the second part must follow; sending the first part again would
 * duplicate it in the chat (the Bot API: wait retry_after, then retry -
 * the request, not the whole alert).
 */
static void test_multipart_429_resumes(void **state)
{
	struct fx *f = *state;
	int64_t id = add_long_alert(f, PRIV);
	static char second[8192];
	size_t mark;

	assert_int_equal(run(f), 1);
	answer_ok(f, 0, 301);
	advance(f, 1100);
	assert_int_equal(run(f), 1);
	str_copy(second, call_text(1), sizeof(second));
	assert_string_not_equal(second, call_text(0));
	answer(f, 1, 429, BODY_429_7);

	set_clock_mono(f, dispatch_next(f->ds));
	mark = rec.n;
	run(f);
	assert_int_equal(rec.n, mark + 1);
	if (strcmp(call_text(mark), call_text(0)) == 0) {
		fail_msg("after a 429 on part 2 the alert started over: part 1 "
			 "(already delivered, message 301) was sent again");
	}
	assert_string_equal(call_text(mark), second);
	answer_ok(f, mark, 302);
	(void)id;
}

/*
 * Telegram refuses the HTML of the edit that marks the original resolved:
 * the same bytes must not be sent again (Telegram refuses them again), and the resolution
 * must still reach the chat.
 */
static void test_resolved_edit_refused(void **state)
{
	struct fx *f = *state;
	struct dest d = { GROUP, 0 };
	int64_t res;

	add_alert_at(f, SEV_CRITICAL, ALERT_FIRING, "disk:/var", "disk full",
		     &d, 1, f->clk.wall);
	assert_int_equal(run(f), 1);
	answer_ok(f, 0, 77);
	advance(f, 30000);
	res = add_alert_at(f, SEV_CRITICAL, ALERT_RESOLVED, "disk:/var",
			   "disk full", &d, 1, f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_string_equal(rec.calls[1].method, "editMessageText");
	answer(f, 1, 400, BODY_BAD_HTML);

	set_clock_mono(f, dispatch_next(f->ds));
	assert_int_equal(run(f), 1);
	if (strcmp(rec.calls[2].body, rec.calls[1].body) == 0)
		fail_msg("the refused edit was sent again byte for byte: %s",
			 rec.calls[2].body);
	/* whatever comes next is accepted: the resolution gets there */
	answer_ok(f, 2, 80);
	for (int s = 0; s < 10 && row(f, res, GROUP).state != DS_SENT; s++) {
		set_clock_mono(f, dispatch_next(f->ds));
		run(f);
		answer_all_ok(f);
	}
	assert_int_equal(row(f, res, GROUP).state, DS_SENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_warning_silent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_ok_critical_rings_with_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transient_backoff_breaker,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_timeout_gives_back_allowance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_limited_capped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_bad_html_plain_then_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chat_not_found, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bot_blocked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrated_to_itself, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_thread_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_max_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolved_edit_then_reply,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_before_alerts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reply_ahead_of_queued_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_callback_not_held,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_multipart_sent_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_multipart_429_resumes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolved_edit_refused,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
