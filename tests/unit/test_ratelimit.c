/*
 * test_ratelimit.c - unit tests for bot/ratelimit.c: greedy senders over
 * simulated minutes never exceed Telegram's limits yet get the expected
 * throughput; replies jump alert backlogs; blocks, migration, eviction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bot/rng.c"
#include "bot/ratelimit.c"

#define T0 INT64_C(5000000)
#define GROUP INT64_C(-1001234567890)
#define PRIV INT64_C(11111111)
#define MAX_LOG 40000
#define NCHATS 100

/* Telegram's documented limits, which the tests check against. */
#define TG_CHAT_PER_S 3		/* burst tolerated in one chat, per second */
#define TG_GROUP_PER_MIN 20
#define TG_GLOBAL_PER_S 30

static const struct ratelimit_opts defaults = {
	.global_per_second = 30,
	.chat_per_second = 1,
	.group_per_minute = 20,
	.margin_ms = 100,
	.reply_reserve = 2,
	.max_chats = 256,
};

struct sendrec {
	int64_t t[MAX_LOG];
	int64_t chat[MAX_LOG];
	int lane[MAX_LOG];
	int n;
};

static struct ratelimit *new_rl(const struct ratelimit_opts *o)
{
	struct ratelimit *rl = ratelimit_new(o);

	assert_non_null(rl);
	return rl;
}

/* The per-token period the options imply (1000 / rate rounded up). */
static int64_t token_ms(const struct ratelimit_opts *o)
{
	return (int64_t)ceil(1000.0 / o->chat_per_second - 1e-9) + o->margin_ms;
}

/* Most sends (of chat, or all with chat == 0) in any [t, t + window). */
static int max_in_window(const struct sendrec *s, int64_t chat,
			 int64_t window)
{
	int i, j = 0, in = 0, best = 0;

	/* Times are non-decreasing: a sliding pair of indices. */
	for (i = 0; i < s->n; i++) {
		if (chat != 0 && s->chat[i] != chat)
			continue;
		in++;
		while (s->t[j] <= s->t[i] - window) {
			if (chat == 0 || s->chat[j] == chat)
				in--;
			j++;
		}
		if (in > best)
			best = in;
	}
	return best;
}

static int count_lane(const struct sendrec *s, int lane)
{
	int i, n = 0;

	for (i = 0; i < s->n; i++)
		n += s->lane[i] == lane;
	return n;
}

static void record(struct sendrec *s, struct ratelimit *rl, int64_t chat,
		   int lane, int64_t now)
{
	assert_true(s->n < MAX_LOG);
	ratelimit_sent(rl, chat, now);
	s->t[s->n] = now;
	s->chat[s->n] = chat;
	s->lane[s->n] = lane;
	s->n++;
}

/* Walks the table's structures and checks they agree. */
static void check_table(const struct ratelimit *rl)
{
	int32_t i, prev = NIL;
	int n_lru = 0, n_hash = 0, n_free = 0;
	uint32_t b;

	for (i = rl->mru; i != NIL; i = rl->chats[i].next) {
		assert_true(rl->chats[i].prev == prev);
		assert_true(chat_find(rl, rl->chats[i].id) == i);
		prev = i;
		n_lru++;
	}
	assert_true(rl->lru == prev);
	for (b = 0; b < rl->nbuckets; b++)
		for (i = rl->buckets[b]; i != NIL; i = rl->chats[i].hnext)
			n_hash++;
	for (i = rl->free_head; i != NIL; i = rl->chats[i].hnext)
		n_free++;
	assert_int_equal(n_lru, n_hash);
	assert_int_equal(n_lru + n_free, rl->max_chats);
}

static void test_new_rejects_bad_opts(void **state)
{
	struct ratelimit_opts o;

	(void)state;
	o = defaults;
	o.chat_per_second = 0;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.global_per_second = NAN;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.group_per_minute = 0;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.group_per_minute = 1001;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.max_chats = 0;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.margin_ms = -1;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.reply_reserve = -1;
	assert_null(ratelimit_new(&o));
	o = defaults;
	o.group_per_minute = 1000;
	ratelimit_free(new_rl(&o));
	ratelimit_free(NULL);
}

static void test_fresh_chat_sends_now(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);

	(void)state;
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == T0);
	assert_true(ratelimit_when(rl, GROUP, LANE_REPLY, T0) == T0);
	assert_true(ratelimit_when(rl, 0, LANE_ALERT, T0) == T0);
	assert_true(ratelimit_blocked_until(rl, PRIV) == 0);
	ratelimit_free(rl);
}

/* The bucket, exactly: two alerts of burst, the third token for replies,
 * then one token per period. */
static void test_chat_bucket_exact(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t p = token_ms(&defaults);

	(void)state;
	ratelimit_sent(rl, PRIV, T0);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == T0);
	ratelimit_sent(rl, PRIV, T0);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == T0 + p);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, T0) == T0);
	ratelimit_sent(rl, PRIV, T0);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, T0) == T0 + p);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == T0 + 2 * p);
	/* Never earlier than now. */
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0 + 10 * p) ==
	    T0 + 10 * p);
	/* Three periods later the bucket is full again: burst of two. */
	ratelimit_sent(rl, PRIV, T0 + 3 * p);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0 + 3 * p) ==
	    T0 + 3 * p);
	/* Half a period after the last token: still waiting for it. */
	ratelimit_sent(rl, PRIV, T0 + 3 * p);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0 + 3 * p + p / 2) ==
	    T0 + 4 * p);
	ratelimit_free(rl);
}

/* A fractional period rounds up: a greedy replier never beats the rate. */
static void test_chat_fractional_rate(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;
	int64_t now = T0, span = 60000;
	int n = 0;

	(void)state;
	o.chat_per_second = 3;
	o.margin_ms = 0;
	rl = new_rl(&o);
	for (;;) {
		now = ratelimit_when(rl, PRIV, LANE_REPLY, now);
		if (now >= T0 + span)
			break;
		ratelimit_sent(rl, PRIV, now);
		n++;
	}
	/* Burst of 3, then at most rate * span; rounding loses < 1%. */
	assert_true(n <= 3 + span * 3 / 1000);
	assert_true(n >= (3 + span * 3 / 1000) * 99 / 100);
	ratelimit_free(rl);
}

/* Ten minutes of a greedy alert sender into one supergroup. */
static void test_sustained_group_alerts(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	struct sendrec *s = calloc(1, sizeof(*s));
	int64_t now = T0, span = 10 * 60000;
	int per_min_floor = 16;

	(void)state;
	assert_non_null(s);
	for (;;) {
		now = ratelimit_when(rl, GROUP, LANE_ALERT, now);
		if (now >= T0 + span)
			break;
		record(s, rl, GROUP, LANE_ALERT, now);
	}
	assert_true(max_in_window(s, GROUP, 60000) <= TG_GROUP_PER_MIN);
	assert_true(max_in_window(s, GROUP, 1000) <= TG_CHAT_PER_S);
	/* The alert lane keeps the reserve free in every window. */
	assert_true(max_in_window(s, GROUP, 60000 + defaults.margin_ms) <=
	    defaults.group_per_minute - defaults.reply_reserve);
	assert_true(s->n >= per_min_floor * (span / 60000));
	free(s);
	ratelimit_free(rl);
}

/* The same with replies mixed in at random: still within every limit. */
static void test_sustained_group_mixed(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	struct sendrec *s = calloc(1, sizeof(*s));
	int64_t now = T0, span = 10 * 60000;
	struct rng r;

	(void)state;
	assert_non_null(s);
	rng_seed(&r, 17);
	for (;;) {
		int lane = rng_below(&r, 4) == 0 ? LANE_REPLY : LANE_ALERT;

		now = ratelimit_when(rl, GROUP, (enum lane)lane, now);
		if (now >= T0 + span)
			break;
		record(s, rl, GROUP, lane, now);
	}
	assert_true(count_lane(s, LANE_REPLY) > 0);
	assert_true(max_in_window(s, GROUP, 60000) <= TG_GROUP_PER_MIN);
	assert_true(max_in_window(s, GROUP, 1000) <= TG_CHAT_PER_S);
	assert_true(s->n >= 16 * (span / 60000));
	free(s);
	ratelimit_free(rl);
}

/* A greedy sender over many chats: the global window binds. */
static void test_sustained_multichat(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	struct sendrec *s = calloc(1, sizeof(*s));
	int64_t chats[NCHATS], now = T0, span = 2 * 60000;
	double expect;
	struct rng r;
	int i;

	(void)state;
	assert_non_null(s);
	rng_seed(&r, 23);
	for (i = 0; i < NCHATS; i++)	/* half private, half groups */
		chats[i] = i % 2 ? 1000 + i : -1000 - i;
	for (;;) {
		int64_t best = INT64_MAX, chat = 0;
		int lane = rng_below(&r, 10) == 0 ? LANE_REPLY : LANE_ALERT;

		for (i = 0; i < NCHATS; i++) {
			int64_t w = ratelimit_when(rl, chats[i],
			    (enum lane)lane, now);

			if (w < best) {
				best = w;
				chat = chats[i];
			}
		}
		if (best >= T0 + span)
			break;
		now = best;
		record(s, rl, chat, lane, now);
	}
	assert_true(max_in_window(s, 0, 1000) <= TG_GLOBAL_PER_S);
	for (i = 0; i < NCHATS; i++) {
		assert_true(max_in_window(s, chats[i], 1000) <= TG_CHAT_PER_S);
		if (chats[i] < 0)
			assert_true(max_in_window(s, chats[i], 60000) <=
			    TG_GROUP_PER_MIN);
	}
	/* Throughput: near the alert share of the global window. */
	expect = (double)(defaults.global_per_second - defaults.reply_reserve) *
	    (double)span / (double)(1000 + defaults.margin_ms);
	assert_true((double)s->n >= expect * 0.95);
	check_table(rl);
	free(s);
	ratelimit_free(rl);
}

/* After a burst of alerts a reply goes at once; the next alert waits. */
static void test_reply_jumps_alerts(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t now = T0;
	int n = 0;

	(void)state;
	while (ratelimit_when(rl, PRIV, LANE_ALERT, now) == now) {
		ratelimit_sent(rl, PRIV, now);
		n++;
	}
	assert_true(n >= 1);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, now) > now);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, now) == now);
	ratelimit_sent(rl, PRIV, now);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, now) > now);
	ratelimit_free(rl);
}

/* In a group whose minute is used up by alerts, replies still go. */
static void test_reply_jumps_group_backlog(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t now = T0, first = -1, w;
	int n = 0;

	(void)state;
	for (;;) {
		now = ratelimit_when(rl, GROUP, LANE_ALERT, now);
		if (first >= 0 && now >= first + 60000)
			break;
		if (first < 0)
			first = now;
		ratelimit_sent(rl, GROUP, now);
		n++;
	}
	assert_int_equal(n, defaults.group_per_minute - defaults.reply_reserve);
	assert_true(now == first + 60000 + defaults.margin_ms);
	/* Let the bucket refill: only the group window holds alerts back. */
	now = first + 50000;
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, now) > now);
	for (n = 0; n < defaults.reply_reserve; n++) {
		w = ratelimit_when(rl, GROUP, LANE_REPLY, now);
		assert_true(w == now);
		ratelimit_sent(rl, GROUP, now);
		now += token_ms(&defaults);
	}
	assert_true(ratelimit_when(rl, GROUP, LANE_REPLY, now) > now);
	ratelimit_free(rl);
}

/* Global alerts leave reply_reserve slots; replies may use them. */
static void test_global_reserve(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t chat = 1, w;
	int n = 0, cap = (int)defaults.global_per_second;

	(void)state;
	while (ratelimit_when(rl, chat, LANE_ALERT, T0) == T0) {
		ratelimit_sent(rl, chat++, T0);
		n++;
	}
	assert_int_equal(n, cap - defaults.reply_reserve);
	while (ratelimit_when(rl, chat, LANE_REPLY, T0) == T0) {
		ratelimit_sent(rl, chat++, T0);
		n++;
	}
	assert_int_equal(n, cap);
	w = ratelimit_when(rl, chat, LANE_REPLY, T0);
	assert_true(w == T0 + 1000 + defaults.margin_ms);
	ratelimit_free(rl);
}

/* Below one per second: one send per 1000 / rate + margin. */
static void test_global_slow_rate(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;

	(void)state;
	o.global_per_second = 0.5;
	rl = new_rl(&o);
	ratelimit_sent(rl, 1, T0);
	assert_true(ratelimit_when(rl, 2, LANE_REPLY, T0) ==
	    T0 + 2000 + o.margin_ms);
	assert_true(ratelimit_when(rl, 2, LANE_ALERT, T0) ==
	    T0 + 2000 + o.margin_ms);
	ratelimit_free(rl);
}

static void test_block_chat(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t until = T0 + 30000;

	(void)state;
	ratelimit_block(rl, PRIV, until);
	assert_true(ratelimit_blocked_until(rl, PRIV) == until);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, T0) == until);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == until);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, T0) == T0);
	assert_true(ratelimit_blocked_until(rl, GROUP) == 0);
	/* A shorter block arriving late does not shorten it. */
	ratelimit_block(rl, PRIV, T0 + 1000);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == until);
	ratelimit_block(rl, PRIV, until + 5000);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, T0) == until + 5000);
	assert_true(ratelimit_when(rl, PRIV, LANE_ALERT, until + 6000) ==
	    until + 6000);
	ratelimit_free(rl);
}

/* Failed attempts during an outage are taken back: once it is over, the
 * group's full allowance is there again. */
static void test_unsent_gives_allowance_back(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t t = T0;

	(void)state;
	for (int i = 0; i < 20; i++) {
		t = ratelimit_when(rl, GROUP, LANE_ALERT, t);
		ratelimit_sent(rl, GROUP, t);
		ratelimit_unsent(rl, GROUP, t); /* connection refused */
	}
	/* nothing counted: the next alert may go at once */
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, t) == t);
	/* real sends still count (two leave one token: alerts must wait);
	 * taking back a send that never happened changes nothing */
	ratelimit_sent(rl, GROUP, t);
	ratelimit_sent(rl, GROUP, t);
	ratelimit_unsent(rl, GROUP, t - 1);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, t) > t);
	ratelimit_unsent(rl, GROUP, t);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, t) == t);
	ratelimit_free(rl);
}

static void test_block_global(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t until = T0 + 7000;

	(void)state;
	ratelimit_sent(rl, GROUP, T0 - 100000);
	ratelimit_block(rl, 0, until);
	assert_true(ratelimit_blocked_until(rl, 0) == until);
	assert_true(ratelimit_blocked_until(rl, PRIV) == until);
	assert_true(ratelimit_when(rl, PRIV, LANE_REPLY, T0) == until);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, T0) == until);
	assert_true(ratelimit_when(rl, 0, LANE_ALERT, T0) == until);
	/* A chat block beyond the global one wins for that chat. */
	ratelimit_block(rl, GROUP, until + 1);
	assert_true(ratelimit_blocked_until(rl, GROUP) == until + 1);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, T0) == until + 1);
	ratelimit_free(rl);
}

static void test_migrate(void **state)
{
	struct ratelimit *rl = new_rl(&defaults);
	int64_t from = -4242, to = GROUP, now, w, later;

	(void)state;
	/* The old group's alert minute is full; w ends it. */
	for (now = T0; (w = ratelimit_when(rl, from, LANE_ALERT, now)) <
	    T0 + 60000; now = w)
		ratelimit_sent(rl, from, w);
	later = now + 5000;
	assert_true(ratelimit_when(rl, from, LANE_ALERT, later) == w);
	ratelimit_block(rl, from, now + 2000);
	ratelimit_migrate(rl, from, to);
	check_table(rl);
	assert_true(chat_find(rl, from) == NIL);
	assert_true(ratelimit_when(rl, to, LANE_ALERT, later) == w);
	assert_true(ratelimit_when(rl, to, LANE_REPLY, later) == later);
	assert_true(ratelimit_when(rl, to, LANE_REPLY, now) == now + 2000);
	assert_true(ratelimit_blocked_until(rl, to) == now + 2000);
	assert_true(ratelimit_when(rl, from, LANE_ALERT, later) == later);
	/* Unknown source: nothing happens. */
	ratelimit_migrate(rl, -777, -778);
	assert_true(chat_find(rl, -778) == NIL);
	check_table(rl);
	ratelimit_free(rl);
}

/* Both ids have history: the group logs merge, newest kept. */
static void test_migrate_merge(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;
	int64_t a = -1, b = -2, t[8], expect;
	int i;

	(void)state;
	o.group_per_minute = 6;
	o.reply_reserve = 0;
	o.chat_per_second = 1000;	/* only the group window matters */
	o.margin_ms = 0;
	rl = new_rl(&o);
	/* Interleaved: a at 0, 2000, 4000, 6000; b at 1000, 3000, ... */
	for (i = 0; i < 8; i++) {
		t[i] = T0 + i * 1000;
		ratelimit_sent(rl, i % 2 ? b : a, t[i]);
	}
	ratelimit_migrate(rl, a, b);
	check_table(rl);
	/* Six of eight sends fit the log: the 6th newest gates the 7th. */
	expect = t[8 - o.group_per_minute] + 60000;
	assert_true(ratelimit_when(rl, b, LANE_ALERT, t[7]) == expect);
	assert_int_equal(rl->chats[chat_find(rl, b)].log.n, o.group_per_minute);
	ratelimit_free(rl);
}

/* A full table recycles an expired entry before a live older one. */
static void test_evict_expired_first(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;
	int64_t now, w;

	(void)state;
	o.max_chats = 3;
	rl = new_rl(&o);
	/* Fill the group's alert minute; w ends as the window's end. */
	for (now = T0; (w = ratelimit_when(rl, GROUP, LANE_ALERT, now)) <
	    T0 + 60000; now = w)
		ratelimit_sent(rl, GROUP, w);
	assert_true(w > now);
	/* LRU order now: GROUP (live), 1, 2. */
	ratelimit_sent(rl, 1, now);
	ratelimit_sent(rl, 2, now + 10);
	now += 5000;	/* the private chats' buckets are full again */
	ratelimit_sent(rl, 3, now);
	check_table(rl);
	assert_true(chat_find(rl, GROUP) != NIL);
	assert_true(chat_find(rl, 1) == NIL);
	assert_true(chat_find(rl, 2) != NIL);
	assert_true(chat_find(rl, 3) != NIL);
	assert_true(ratelimit_when(rl, GROUP, LANE_ALERT, now) == w);
	ratelimit_free(rl);
}

/* With nothing expired, the LRU goes; what is in use stays. */
static void test_evict_lru_when_all_live(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;

	(void)state;
	o.max_chats = 2;
	rl = new_rl(&o);
	ratelimit_sent(rl, -1, T0);
	ratelimit_sent(rl, -2, T0 + 1);
	/* Asking about -1 makes -2 the least recently used. */
	(void)ratelimit_when(rl, -1, LANE_ALERT, T0 + 2);
	ratelimit_sent(rl, -3, T0 + 3);
	check_table(rl);
	assert_true(chat_find(rl, -1) != NIL);
	assert_true(chat_find(rl, -2) == NIL);
	assert_true(chat_find(rl, -3) != NIL);
	/* The recycled slot's group log starts empty. */
	assert_int_equal(rl->chats[chat_find(rl, -3)].log.n, 1);
	/* Permissive for the forgotten chat, as designed. */
	assert_true(ratelimit_when(rl, -2, LANE_ALERT, T0 + 4) == T0 + 4);
	ratelimit_free(rl);
}

/* Many more chats than slots, over time: the table stays consistent and
 * the most recent chats are all present. */
static void test_table_churn(void **state)
{
	struct ratelimit_opts o = defaults;
	struct ratelimit *rl;
	int64_t now = T0;
	int i;

	(void)state;
	o.max_chats = 64;
	o.global_per_second = 1000;
	rl = new_rl(&o);
	for (i = 0; i < 5000; i++) {
		int64_t chat = (i * 7919) % 3001 - 1500;

		if (chat == 0)
			continue;
		ratelimit_sent(rl, chat, now);
		if (i % 2 == 0)
			ratelimit_block(rl, -chat, now + 1000);
		if (i % 97 == 0)
			ratelimit_migrate(rl, chat, chat + 5000);
		now += 37;
	}
	check_table(rl);
	assert_true(chat_find(rl, rl->chats[rl->mru].id) == rl->mru);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_opts),
		cmocka_unit_test(test_fresh_chat_sends_now),
		cmocka_unit_test(test_chat_bucket_exact),
		cmocka_unit_test(test_chat_fractional_rate),
		cmocka_unit_test(test_sustained_group_alerts),
		cmocka_unit_test(test_sustained_group_mixed),
		cmocka_unit_test(test_sustained_multichat),
		cmocka_unit_test(test_reply_jumps_alerts),
		cmocka_unit_test(test_reply_jumps_group_backlog),
		cmocka_unit_test(test_global_reserve),
		cmocka_unit_test(test_global_slow_rate),
		cmocka_unit_test(test_block_chat),
		cmocka_unit_test(test_block_global),
		cmocka_unit_test(test_unsent_gives_allowance_back),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_migrate_merge),
		cmocka_unit_test(test_evict_expired_first),
		cmocka_unit_test(test_evict_lru_when_all_live),
		cmocka_unit_test(test_table_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
