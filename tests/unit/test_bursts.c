/*
 * test_bursts.c - unit tests for bursts of alerts (issue 13): the pack
 * decision by the time the chat's budget needs (ratelimit_drain and
 * dispatch), ringing and quiet alerts never in one message, actionable
 * packs, a resolution editing its pack, the storm summary, late notes
 * in delivery.timezone (bot/tz.c), and the pack renderer.
 *
 * The real store (temp directory), formatter, wire format, rate limiter,
 * API state, chats, outbox and stats are included; tg_call is faked (it
 * records each request, a test answers it through the real tg_classify).
 * The clock is set by hand; nothing sleeps.
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
#include "bot/tgapi.c"
#include "bot/tz.c"
#include "bot/config.c"
#include "alerts/template.c"
#include "alerts/route.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/rng.c"
#include "bot/stats.c"
#include "bot/api.c"

/* ratelimit.c and dispatch.c each have a private struct chat, chat_get,
 * chat_find, max64 and MAX_CHATS: rename the rate limiter's. */
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

#define chat chats_chat
#define chat_find chats_chat_find
#include "bot/chats.c"
#undef chat
#undef chat_find
#include "bot/outbox.c"
#include "bot/dispatch.c"

#define GROUP (-1001000000001LL)
#define T0 1700000000000LL /* 2023-11-14 22:13:20 UTC */
#define MONO0 5000000LL

/* --- the fake transport --- */

struct call {
	char method[32];
	char *body;
	cJSON *json;
	tg_done_fn fn;
	void *arg;
	int done;
};

static struct {
	struct call c[512];
	size_t n;
} rec;

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct call *c;

	assert_true(rec.n < ARRAY_LEN(rec.c));
	c = &rec.c[rec.n++];
	memset(c, 0, sizeof(*c));
	str_copy(c->method, method, sizeof(c->method));
	c->body = body;
	c->json = cJSON_Parse(body);
	assert_non_null(c->json);
	c->fn = fn;
	c->arg = arg;
	return 0;
}

/* --- fixture --- */

struct fx {
	char dir[64];
	struct config cfg;
	struct clock clk;
	struct store *store;
	struct ratelimit *rl;
	struct api *api;
	struct rng rng;
	struct chats *chats;
	struct stats stats;
	struct dispatch *ds;
	int64_t next_msg;
};

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
		.auth_retry_ms = 300000,
	};
	struct dispatch_deps dd;
	char err[256], path[128];

	if (f == NULL)
		return -1;
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
	strcpy(f->dir, "/tmp/opsbot-bursts-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	config_defaults(&f->cfg);
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rng_seed(&f->rng, 42);
	f->rl = ratelimit_new(&ro);
	f->api = api_new(&ao, &f->clk, &f->rng);
	f->chats = chats_new(f->store);
	if (f->rl == NULL || f->api == NULL || f->chats == NULL)
		return -1;
	chats_load(f->chats, &f->cfg);
	stats_init(&f->stats);
	dd = (struct dispatch_deps){
		.cfg = &f->cfg, .clk = &f->clk, .store = f->store,
		.tg = (struct tg *)f, .rl = f->rl, .api = f->api,
		.rng = &f->rng, .chats = f->chats, .stats = &f->stats,
	};
	if ((f->ds = dispatch_new(&dd)) == NULL)
		return -1;
	f->next_msg = 1000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	/* requests never answered are freed with their owners (a chat's
	 * busy slot, the outbox) */
	dispatch_free(f->ds);
	for (size_t i = 0; i < rec.n; i++) {
		free(rec.c[i].body);
		cJSON_Delete(rec.c[i].json);
	}
	chats_free(f->chats);
	api_free(f->api);
	ratelimit_free(f->rl);
	store_close(f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
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

/* One loop turn's dispatch, committed (outbox too) like the loop does.
 * Returns how many requests it started. */
static size_t run(struct fx *f)
{
	size_t before = rec.n;

	assert_int_equal(store_begin(f->store), 0);
	dispatch_run(f->ds);
	assert_int_equal(store_commit(f->store), 0);
	outbox_committed(dispatch_outbox(f->ds), 1);
	return rec.n - before;
}

static void answer_ok(struct fx *f, size_t i)
{
	char body[256];
	struct tg_reply r;
	struct call *c = &rec.c[i];

	assert_false(c->done);
	snprintf(body, sizeof(body),
		 "{\"ok\":true,\"result\":{\"message_id\":%lld,\"date\":1,"
		 "\"chat\":{\"id\":1,\"type\":\"group\"},\"text\":\"x\"}}",
		 (long long)f->next_msg++);
	tg_classify(&r, 0, NULL, 200, body, strlen(body));
	c->done = 1;
	assert_int_equal(store_begin(f->store), 0);
	c->fn(c->arg, &r);
	assert_int_equal(store_commit(f->store), 0);
	outbox_committed(dispatch_outbox(f->ds), 1);
	tg_reply_free(&r);
}

/* Runs turns, answering every alert request at once, until nothing is
 * left to start; the clock jumps to each next slot. */
static void drain(struct fx *f)
{
	for (int turn = 0; turn < 200; turn++) {
		int64_t next;

		run(f);
		for (size_t i = 0; i < rec.n; i++)
			if (!rec.c[i].done)
				answer_ok(f, i);
		next = dispatch_next(f->ds);
		if (next == INT64_MAX)
			return;
		if (next > f->clk.now)
			advance(f, next - f->clk.now);
	}
	fail_msg("dispatch never went idle");
}

static int64_t add(struct fx *f, enum severity sev, int status,
		   const char *key, const char *source, int64_t received)
{
	struct alert a = { 0 };
	struct dest d = { GROUP, 0 };
	char title[64];
	int64_t id;

	snprintf(title, sizeof(title), "%s %s", severity_name(sev),
		 source);
	a.received_at = received;
	a.severity = sev;
	a.status = (enum alert_status)status;
	a.source = strdup(source);
	a.title = strdup(title);
	a.text = strdup("details");
	a.key = key ? strdup(key) : NULL;
	a.peer_uid = -1;
	a.peer_pid = -1;
	assert_int_equal(store_alert_insert(f->store, &a, &d, 1, DS_PENDING,
					    0), 0);
	assert_int_equal(store_commit(f->store), 0);
	id = a.id;
	alert_free(&a);
	return id;
}

static const char *text_of(size_t i)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(rec.c[i].json,
							  "text");

	return cJSON_IsString(t) ? t->valuestring : "";
}

static int silent_of(size_t i)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		rec.c[i].json, "disable_notification"));
}

static int64_t int_of(size_t i, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec.c[i].json, k);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* callback_data of button b of request i ("" if none). */
static const char *button_of(size_t i, int b)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec.c[i].json,
							  "reply_markup");
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(m,
							   "inline_keyboard");
	const cJSON *btn = cJSON_GetArrayItem(cJSON_GetArrayItem(kb, 0), b);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(btn,
							  "callback_data");

	return cJSON_IsString(d) ? d->valuestring : "";
}

static int is_pack(size_t i)
{
	return strncmp(text_of(i), "📦", strlen("📦")) == 0;
}

/* Uses up most of the group's minute: 16 of its 17 alert sends went in
 * the last 49 s, the oldest leaves the window in 10.9 s. */
static void spend_group_budget(struct fx *f)
{
	for (int i = 0; i < 16; i++) {
		ratelimit_sent(f->rl, GROUP, f->clk.now);
		advance(f, 3000);
	}
	advance(f, 1200);
}

/* --- the pure estimate --- */

static void test_drain_of_a_fresh_group(void **state)
{
	struct fx *f = *state;
	int64_t now = f->clk.now, before;

	/* 2-token alerts from a 3-token bucket, 1100 ms each: two at once,
	 * then one per period */
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 0, now), now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 1, now), now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 2, now), now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 6, now), now + 4400);
	/* 17 alerts a minute (3 of 20 kept for replies): the 18th waits
	 * for the first to leave the window */
	assert_true(ratelimit_drain(f->rl, GROUP, 18, now) >= now + 60100);
	/* asking changes nothing */
	before = ratelimit_when(f->rl, GROUP, LANE_ALERT, now);
	ratelimit_drain(f->rl, GROUP, 50, now);
	assert_int_equal(ratelimit_when(f->rl, GROUP, LANE_ALERT, now),
			 before);
	ratelimit_sent(f->rl, GROUP, now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 1, now), now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 2, now), now + 1100);
}

static void test_drain_sees_a_spent_budget(void **state)
{
	struct fx *f = *state;

	spend_group_budget(f);
	/* one left in this minute: the second waits for the window */
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 1, f->clk.now),
			 f->clk.now);
	assert_int_equal(ratelimit_drain(f->rl, GROUP, 2, f->clk.now) -
			 f->clk.now, 10900);
}

/* --- the decision --- */

static void test_six_criticals_go_singly_with_buttons(void **state)
{
	struct fx *f = *state;
	int64_t ids[6];
	size_t singles = 0;

	for (int i = 0; i < 6; i++) {
		char src[16];

		snprintf(src, sizeof(src), "db%d", i);
		ids[i] = add(f, SEV_CRITICAL, ALERT_FIRING, NULL, src,
			     f->clk.wall);
	}
	drain(f);
	assert_int_equal(rec.n, 6);
	for (size_t i = 0; i < rec.n; i++) {
		char want[32];

		assert_false(is_pack(i));
		assert_false(silent_of(i));
		snprintf(want, sizeof(want), "ack:%lld", (long long)ids[i]);
		assert_string_equal(button_of(i, 0), want);
		singles++;
	}
	assert_int_equal(singles, 6);
	/* all six within the 10 s the budget was asked for */
	assert_true(f->clk.now - MONO0 <= 10000);
}

static void test_same_backlog_packed_when_budget_is_spent(void **state)
{
	struct fx *f = *state;
	int64_t first = 0;
	char want[64];

	spend_group_budget(f);
	for (int i = 0; i < 6; i++) {
		char src[16];
		int64_t id;

		snprintf(src, sizeof(src), "db%d", i);
		id = add(f, SEV_CRITICAL, ALERT_FIRING, NULL, src,
			 f->clk.wall);
		if (first == 0)
			first = id;
	}
	assert_int_equal(run(f), 1);
	assert_true(is_pack(0));
	assert_non_null(strstr(text_of(0), "6 alerts"));
	assert_false(silent_of(0));
	snprintf(want, sizeof(want), "ackp:%lld:%lld", (long long)first,
		 (long long)GROUP);
	assert_string_equal(button_of(0, 0), want);
	assert_true(strlen(button_of(0, 1)) <= 64);
	assert_int_equal(strncmp(button_of(0, 1), "mutep:", 6), 0);
}

static void test_pack_after_is_the_threshold(void **state)
{
	struct fx *f = *state;

	/* 6 criticals need 4.4 s: with pack_after = 4 they are packed */
	f->cfg.pack_after = 4;
	for (int i = 0; i < 6; i++)
		add(f, SEV_CRITICAL, ALERT_FIRING, NULL, "db", f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_true(is_pack(0));
}

static void test_ringing_and_quiet_never_share_a_message(void **state)
{
	struct fx *f = *state;
	int64_t crit[4], info[4];

	spend_group_budget(f);
	for (int i = 0; i < 4; i++) {
		info[i] = add(f, SEV_INFO, ALERT_FIRING, NULL, "web",
			      f->clk.wall);
		crit[i] = add(f, SEV_CRITICAL, ALERT_FIRING, NULL, "db",
			      f->clk.wall);
	}
	drain(f);
	assert_int_equal(rec.n, 2);
	for (size_t i = 0; i < 2; i++) {
		int ring = !silent_of(i);
		char id[32];

		assert_true(is_pack(i));
		for (int k = 0; k < 4; k++) {
			snprintf(id, sizeof(id), "#%lld", (long long)crit[k]);
			assert_true((strstr(text_of(i), id) != NULL) == ring);
			snprintf(id, sizeof(id), "#%lld", (long long)info[k]);
			assert_true((strstr(text_of(i), id) != NULL) == !ring);
		}
	}
	/* the ringing pack first, and only it has buttons */
	assert_false(silent_of(0));
	assert_string_equal(button_of(1, 0), "");
}

static void test_quiet_alerts_are_packed_sooner(void **state)
{
	struct fx *f = *state;

	/* budget to spare, yet three warnings go in one quiet message */
	for (int i = 0; i < 3; i++)
		add(f, SEV_WARNING, ALERT_FIRING, NULL, "web", f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_true(is_pack(0));
	assert_true(silent_of(0));
}

static void test_storm_opens_with_a_summary(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 60; i++)
		add(f, i % 3 ? SEV_WARNING : SEV_ERROR, ALERT_FIRING, NULL,
		    i % 2 ? "db" : "web", f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(text_of(0), "60 alerts queued"));
	assert_non_null(strstr(text_of(0), "error: 20"));
	assert_non_null(strstr(text_of(0), "warning: 40"));
	assert_non_null(strstr(text_of(0), "<code>db</code> 30"));
	assert_false(silent_of(0)); /* errors in it */
	answer_ok(f, 0);
	advance(f, 1100);
	assert_int_equal(run(f), 1);
	assert_true(is_pack(1));
	drain(f);
	/* one summary per storm */
	for (size_t i = 1; i < rec.n; i++)
		assert_null(strstr(text_of(i), "queued"));
}

static void test_resolution_edits_its_pack_then_replies(void **state)
{
	struct fx *f = *state;
	int64_t a, b, c;
	size_t e;
	char want[32];
	const char *line;
	const cJSON *rp, *mid;

	spend_group_budget(f);
	a = add(f, SEV_CRITICAL, ALERT_FIRING, "k/a", "db1", f->clk.wall);
	b = add(f, SEV_CRITICAL, ALERT_FIRING, "k/b", "db2", f->clk.wall);
	c = add(f, SEV_CRITICAL, ALERT_FIRING, "k/c", "db3", f->clk.wall);
	assert_int_equal(run(f), 1);
	assert_true(is_pack(0));
	answer_ok(f, 0); /* message 1000 */
	(void)a;
	(void)c;
	advance(f, 30000);
	add(f, SEV_CRITICAL, ALERT_RESOLVED, "k/b", "db2", f->clk.wall);
	assert_int_equal(run(f), 1);
	e = rec.n - 1;
	assert_string_equal(rec.c[e].method, "editMessageText");
	assert_int_equal(int_of(e, "message_id"), 1000);
	snprintf(want, sizeof(want), "#%lld", (long long)b);
	line = strstr(text_of(e), want);
	assert_non_null(line);
	while (line > text_of(e) && line[-1] != '\n')
		line--;
	assert_int_equal(strncmp(line, "✅", strlen("✅")), 0);
	/* the other lines still want acks: the buttons stay */
	assert_int_equal(strncmp(button_of(e, 0), "ackp:", 5), 0);
	answer_ok(f, e);
	advance(f, 1100);
	assert_int_equal(run(f), 1);
	e = rec.n - 1;
	assert_string_equal(rec.c[e].method, "sendMessage");
	rp = cJSON_GetObjectItemCaseSensitive(rec.c[e].json,
					      "reply_parameters");
	mid = cJSON_GetObjectItemCaseSensitive(rp, "message_id");
	assert_true(cJSON_IsNumber(mid));
	assert_int_equal((int64_t)mid->valuedouble, 1000);
	assert_true(silent_of(e));
	assert_non_null(strstr(text_of(e), "Resolved"));
}

static void test_ack_refresh_edits_the_pack_once(void **state)
{
	struct fx *f = *state;
	int64_t ids[3];
	size_t before, edits = 0;

	spend_group_budget(f);
	for (int i = 0; i < 3; i++)
		ids[i] = add(f, SEV_ERROR, ALERT_FIRING, NULL, "db",
			     f->clk.wall);
	assert_int_equal(run(f), 1);
	answer_ok(f, 0);
	assert_int_equal(store_begin(f->store), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_ack(f->store, ids[i], "@alice",
					   f->clk.wall), 0);
	dispatch_refresh_alerts(f->ds, ids, 3);
	assert_int_equal(store_commit(f->store), 0);
	outbox_committed(dispatch_outbox(f->ds), 1);
	before = rec.n;
	advance(f, 2000);
	run(f);
	for (size_t i = before; i < rec.n; i++)
		if (strcmp(rec.c[i].method, "editMessageText") == 0) {
			edits++;
			assert_non_null(strstr(text_of(i), "acked by @alice"));
			/* everything acked: no buttons left */
			assert_string_equal(button_of(i, 0), "");
		}
	assert_int_equal(edits, 1);
}

static void test_late_alert_says_when_it_fired_in_its_zone(void **state)
{
	struct fx *f = *state;

	str_copy(f->cfg.timezone, "Europe/Berlin", sizeof(f->cfg.timezone));
	/* came in 14 minutes ago: 21:59:20 UTC is 22:59 in Berlin */
	add(f, SEV_CRITICAL, ALERT_FIRING, NULL, "db", T0 - 14 * 60000);
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(text_of(0), "fired 22:59, 14 min ago"));
	/* on time: no note */
	add(f, SEV_CRITICAL, ALERT_FIRING, NULL, "db", f->clk.wall);
	answer_ok(f, 0);
	advance(f, 1100);
	assert_int_equal(run(f), 1);
	assert_null(strstr(text_of(1), "fired"));
}

/* --- the store --- */

static void test_recent_by_source_glob(void **state)
{
	struct fx *f = *state;
	struct alert out[8];
	int64_t db1 = add(f, SEV_ERROR, ALERT_FIRING, NULL, "db1", T0);
	int64_t db2 = add(f, SEV_INFO, ALERT_FIRING, NULL, "db2", T0);
	int n;

	add(f, SEV_ERROR, ALERT_FIRING, NULL, "web1", T0);
	n = store_recent_match(f->store, -1, "db*", out, 8);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, db2); /* newest first */
	assert_int_equal(out[1].id, db1);
	for (int i = 0; i < n; i++)
		alert_free(&out[i]);
	n = store_recent_match(f->store, SEV_ERROR, "db*", out, 8);
	assert_int_equal(n, 1);
	alert_free(&out[0]);
	assert_int_equal(store_recent_match(f->store, -1, "db[", out, 8), 0);
	assert_int_equal(store_recent_match(f->store, -1, NULL, out, 8), 3);
	for (int i = 0; i < 3; i++)
		alert_free(&out[i]);
}

static void test_queue_summary_counts(void **state)
{
	struct fx *f = *state;
	struct queue_summary q;

	for (int i = 0; i < 7; i++)
		add(f, i < 2 ? SEV_CRITICAL : SEV_WARNING, ALERT_FIRING, NULL,
		    i < 5 ? "db" : "web", T0);
	/* not due yet: not queued */
	add(f, SEV_CRITICAL, ALERT_FIRING, NULL, "later", T0 + 60000);
	assert_int_equal(store_queue_summary(f->store, GROUP, T0, &q), 0);
	assert_int_equal(q.total, 7);
	assert_int_equal(q.by_severity[SEV_CRITICAL], 2);
	assert_int_equal(q.by_severity[SEV_WARNING], 5);
	assert_int_equal(q.nsources, 2);
	assert_string_equal(q.sources[0].source, "db");
	assert_int_equal(q.sources[0].n, 5);
	assert_false(q.capped);
}

/* --- time zones --- */

static void test_tz_offsets(void **state)
{
	struct tz *z;
	char err[256], out[64];
	const char *abbr;

	(void)state;
	assert_int_equal(tz_load(&z, "Europe/Berlin", err, sizeof(err)), 0);
	assert_int_equal(tz_offset(z, 1700000000, &abbr), 3600);
	assert_string_equal(abbr, "CET");
	assert_int_equal(tz_offset(z, 1720000000, &abbr), 7200);
	assert_string_equal(abbr, "CEST");
	/* 2100: past any transition in the file, the footer rule */
	assert_int_equal(tz_offset(z, 4117996800LL, NULL), 7200);
	tz_format(z, out, sizeof(out), 1700000000000LL, "%H:%M %Z");
	assert_string_equal(out, "23:13 CET");
	tz_free(z);
	assert_int_equal(tz_load(&z, "UTC", err, sizeof(err)), 0);
	assert_int_equal(tz_offset(z, 1720000000, NULL), 0);
	tz_free(z);
	assert_int_equal(tz_load(&z, "Mars/Olympus", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown time zone"));
	assert_int_equal(tz_load(&z, "../../etc/passwd", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "not a time zone name"));
}

static void test_tz_posix_rules(void **state)
{
	struct tz z = { 0 };

	(void)state;
	/* a slim file's present: only the rule */
	assert_int_equal(tz_parse_rule("CET-1CEST,M3.5.0,M10.5.0/3", &z.rule), 0);
	/* 2024-03-31 01:00 UTC: summer time begins */
	assert_int_equal(tz_offset(&z, 1711846799, NULL), 3600);
	assert_int_equal(tz_offset(&z, 1711846800, NULL), 7200);
	/* 2024-10-27 01:00 UTC: it ends */
	assert_int_equal(tz_offset(&z, 1729990799, NULL), 7200);
	assert_int_equal(tz_offset(&z, 1729990800, NULL), 3600);
	/* southern hemisphere: summer across the new year */
	assert_int_equal(tz_parse_rule("AEST-10AEDT,M10.1.0,M4.1.0/3",
				    &z.rule), 0);
	assert_int_equal(tz_offset(&z, 1704067200, NULL), 39600); /* Jan */
	assert_int_equal(tz_offset(&z, 1719792000, NULL), 36000); /* Jul */
	assert_int_equal(tz_parse_rule("<+0530>-5:30", &z.rule), 0);
	assert_int_equal(tz_offset(&z, 1719792000, NULL), 19800);
	assert_int_equal(tz_parse_rule("X1", &z.rule), -1);
	assert_int_equal(tz_parse_rule("CET-1CEST,M13.5.0,M10.5.0", &z.rule),
			 -1);
}

static void test_config_checks_the_timezone(void **state)
{
	struct config cfg;
	char err[1024];

	(void)state;
	assert_int_equal(config_load_string(&cfg,
		"telegram = { token = \"123:abcdefghijklmnopqrstuvwxyz0123456789\";"
		" chats = [ 1 ]; };\n"
		"delivery = { timezone = \"Nowhere/City\"; };\n", "t.conf",
		NULL, err, sizeof(err), NULL, 0), -1);
	assert_non_null(strstr(err, "t.conf:2: delivery.timezone"));
	assert_int_equal(config_load_string(&cfg,
		"telegram = { token = \"123:abcdefghijklmnopqrstuvwxyz0123456789\";"
		" chats = [ 1 ]; };\n"
		"delivery = { timezone = \"Asia/Tokyo\"; pack_after = 30; };\n",
		"t.conf", NULL, err, sizeof(err), NULL, 0), 0);
	assert_string_equal(cfg.timezone, "Asia/Tokyo");
	assert_int_equal(cfg.pack_after, 30);
	config_defaults(&cfg);
	assert_string_equal(cfg.timezone, "UTC");
	assert_int_equal(cfg.pack_after, 10);
}

/* --- the renderer --- */

static void test_pack_lines_marks_and_footer(void **state)
{
	struct alert a[2] = { 0 };
	struct pack_line l[2];
	struct pack_opts o = { .late = "fired 12:03, 14 min ago" };
	char *out = NULL;

	(void)state;
	for (int i = 0; i < 2; i++) {
		a[i].id = 10 + i;
		a[i].severity = SEV_CRITICAL;
		a[i].title = (char *)"db down";
		a[i].source = (char *)"db<1>";
	}
	l[0] = (struct pack_line){ .a = &a[0], .resolved = 1 };
	l[1] = (struct pack_line){ .a = &a[1], .acked_by = "@al<ice>" };
	assert_int_equal(format_pack_lines(l, 2, &o, &out), 2);
	assert_non_null(strstr(out, "⏰ fired 12:03, 14 min ago"));
	assert_non_null(strstr(out, "\n✅ <b>db down</b>"));
	assert_non_null(strstr(out, "#11 ☑️"));
	assert_non_null(strstr(out, "acked by @al&lt;ice&gt;"));
	assert_int_equal(tg_html_validate(out, strlen(out), NULL, 0), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_drain_of_a_fresh_group,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_sees_a_spent_budget,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_six_criticals_go_singly_with_buttons, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_same_backlog_packed_when_budget_is_spent, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_pack_after_is_the_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_ringing_and_quiet_never_share_a_message, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_quiet_alerts_are_packed_sooner, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_storm_opens_with_a_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_resolution_edits_its_pack_then_replies, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_ack_refresh_edits_the_pack_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_late_alert_says_when_it_fired_in_its_zone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_recent_by_source_glob,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_summary_counts,
						setup, teardown),
		cmocka_unit_test(test_tz_offsets),
		cmocka_unit_test(test_tz_posix_rules),
		cmocka_unit_test(test_config_checks_the_timezone),
		cmocka_unit_test(test_pack_lines_marks_and_footer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
