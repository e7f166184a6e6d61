/*
 * ratelimit.c - Telegram's flood limits enforced before sending, so that
 * opsbot never causes a 429. See pacing.h.
 *
 * Three constraints, each widened by margin_ms for clock skew and jitter:
 *  - per chat: a token bucket of CHAT_BURST tokens, one token per
 *    ceil(1000 / chat_per_second) + margin ms. Kept as GCRA: `tat` is the
 *    time the bucket is full again, so all arithmetic is exact integers.
 *    An alert needs 2 tokens (it runs at the sustained rate and always
 *    leaves one), a reply needs 1: a reply never waits behind alerts.
 *  - per group (chat id < 0): a log of the last group_per_minute send
 *    times; at most that many in any 60000 + margin ms, alerts at most
 *    group_per_minute - reply_reserve (at least 1).
 *  - global: the same log over all chats, ceil(global_per_second) sends
 *    per 1000 + margin ms (for rates below 1: one send per 1000 / rate +
 *    margin ms); alerts leave reply_reserve of them (at least 1).
 * Plus blocks from 429 answers, per chat or global (chat 0).
 *
 * Chats live in a chained hash table over a fixed pool of max_chats
 * entries, on an LRU list. A full pool recycles the least recently used
 * entry whose windows have all expired (it holds no information), looking
 * at most EVICT_SCAN entries from the cold end; failing that, the LRU
 * itself: being slightly too permissive for an ancient chat beats refusing
 * to send.
 */
#include "bot/pacing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_BURST	3	/* tokens in a chat's bucket */
#define ALERT_TOKENS	2	/* an alert leaves at least one for replies */
#define REPLY_TOKENS	1
#define GROUP_WINDOW_MS	60000
#define MAX_WINDOW_SENDS 1000	/* longest send log, group or global */
#define MAX_CHATS	(1 << 20)
#define MAX_PERIOD_MS	INT64_C(86400000) /* slowest rate: one a day */
#define MAX_MARGIN_MS	INT64_C(60000)
#define EVICT_SCAN	16	/* entries examined per eviction */
/* "Long ago": far enough back to be expired, far from overflow. */
#define LONG_AGO	(INT64_MIN / 4)
#define NIL		(-1)

/* The last `cap` send times, oldest first from (head - n). */
struct sendlog {
	int64_t *t;
	int cap, n, head;
};

struct chat {
	int64_t id;
	int64_t tat;		/* bucket full again at this time */
	int64_t blocked;	/* 429: nothing before this */
	int64_t last_sent;
	struct sendlog log;	/* groups only; t == NULL otherwise or on OOM */
	int32_t hnext;		/* hash chain */
	int32_t prev, next;	/* LRU list: prev is more recent */
};

struct ratelimit {
	int64_t chat_period;	/* ms per token */
	int64_t group_window;
	int group_max, group_alert;
	int64_t global_window;
	int global_alert;
	struct sendlog global;
	int64_t blocked;	/* chat 0: everything */
	int64_t now;		/* latest now seen: for calls without one */

	struct chat *chats;
	int32_t *buckets;
	uint32_t nbuckets;	/* power of two */
	int max_chats;
	int32_t mru, lru;	/* ends of the LRU list */
	int32_t free_head;	/* unused entries, chained by hnext */
};

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/*
 * ms per event at `rate` per second, rounded up (a shorter period would
 * exceed the rate). A value within float noise of an integer is that
 * integer: 1000 / 0.1 must be 10000, not 10001.
 */
static int64_t period_ms(double rate)
{
	double v = 1000.0 / rate, r = nearbyint(v);

	if (fabs(v - r) < 1e-6)
		return (int64_t)r;
	return (int64_t)ceil(v);
}

static int count_per_second(double rate)
{
	double r = nearbyint(rate);

	if (fabs(rate - r) < 1e-6)
		return (int)r;
	return (int)ceil(rate);
}

static int valid_rate(double rate)
{
	/* NaN fails both comparisons. */
	return rate >= 1000.0 / (double)MAX_PERIOD_MS && rate <= MAX_WINDOW_SENDS;
}

static int valid_opts(const struct ratelimit_opts *o)
{
	return valid_rate(o->global_per_second) &&
	    valid_rate(o->chat_per_second) &&
	    o->group_per_minute >= 1 && o->group_per_minute <= MAX_WINDOW_SENDS &&
	    o->margin_ms >= 0 && o->margin_ms <= MAX_MARGIN_MS &&
	    o->reply_reserve >= 0 &&
	    o->max_chats >= 1 && o->max_chats <= MAX_CHATS;
}

/* The alert share of a window of `max` sends. */
static int alert_share(int max, int reserve)
{
	return max - reserve >= 1 ? max - reserve : 1;
}

/* --- send logs --- */

static int sendlog_init(struct sendlog *l, int cap)
{
	l->t = calloc((size_t)cap, sizeof(*l->t));
	l->cap = cap;
	l->n = 0;
	l->head = 0;
	return l->t ? 0 : -1;
}

static void sendlog_add(struct sendlog *l, int64_t t)
{
	l->t[l->head] = t;
	l->head = (l->head + 1) % l->cap;
	if (l->n < l->cap)
		l->n++;
}

/* The k-th most recent send (k = 1 is the newest); k <= l->n. */
static int64_t sendlog_back(const struct sendlog *l, int k)
{
	return l->t[(l->head - k + l->cap) % l->cap];
}

/*
 * When a window of `window` ms may take one more send if it may hold
 * `limit`: once the limit-th most recent send has left it.
 */
static int64_t sendlog_when(const struct sendlog *l, int limit,
			    int64_t window)
{
	if (l->n < limit)
		return LONG_AGO;
	return sendlog_back(l, limit) + window;
}

/*
 * Folds b's sends into a (both chronological), keeping the newest cap:
 * a merge from the newest end backwards.
 */
static void sendlog_merge(struct sendlog *a, const struct sendlog *b,
			  int64_t *tmp)
{
	int i = 1, j = 1, k, n = 0;

	while (n < a->cap && (i <= a->n || j <= b->n)) {
		if (j > b->n || (i <= a->n &&
		    sendlog_back(a, i) >= sendlog_back(b, j)))
			tmp[n++] = sendlog_back(a, i++);
		else
			tmp[n++] = sendlog_back(b, j++);
	}
	a->n = 0;
	a->head = 0;
	for (k = n - 1; k >= 0; k--)
		sendlog_add(a, tmp[k]);
}

/* --- chat table --- */

static uint32_t chat_hash(const struct ratelimit *rl, int64_t id)
{
	uint64_t z = (uint64_t)id;

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (uint32_t)z & (rl->nbuckets - 1);
}

static int32_t chat_find(const struct ratelimit *rl, int64_t id)
{
	int32_t i;

	for (i = rl->buckets[chat_hash(rl, id)]; i != NIL;
	    i = rl->chats[i].hnext)
		if (rl->chats[i].id == id)
			return i;
	return NIL;
}

static void hash_insert(struct ratelimit *rl, int32_t i)
{
	uint32_t h = chat_hash(rl, rl->chats[i].id);

	rl->chats[i].hnext = rl->buckets[h];
	rl->buckets[h] = i;
}

static void hash_remove(struct ratelimit *rl, int32_t i)
{
	int32_t *p = &rl->buckets[chat_hash(rl, rl->chats[i].id)];

	while (*p != i)
		p = &rl->chats[*p].hnext;
	*p = rl->chats[i].hnext;
	rl->chats[i].hnext = NIL;
}

static void lru_unlink(struct ratelimit *rl, int32_t i)
{
	struct chat *c = &rl->chats[i];

	if (c->prev != NIL)
		rl->chats[c->prev].next = c->next;
	else
		rl->mru = c->next;
	if (c->next != NIL)
		rl->chats[c->next].prev = c->prev;
	else
		rl->lru = c->prev;
	c->prev = c->next = NIL;
}

static void lru_push(struct ratelimit *rl, int32_t i)
{
	struct chat *c = &rl->chats[i];

	c->prev = NIL;
	c->next = rl->mru;
	if (rl->mru != NIL)
		rl->chats[rl->mru].prev = i;
	rl->mru = i;
	if (rl->lru == NIL)
		rl->lru = i;
}

static void lru_touch(struct ratelimit *rl, int32_t i)
{
	if (rl->mru == i)
		return;
	lru_unlink(rl, i);
	lru_push(rl, i);
}

/* Are all its windows over, so that a fresh entry would be the same? */
static int chat_expired(const struct ratelimit *rl, const struct chat *c,
			int64_t now)
{
	if (c->tat > now || c->blocked > now)
		return 0;
	if (c->id < 0 && c->last_sent + rl->group_window > now)
		return 0;
	return 1;
}

static int32_t chat_victim(const struct ratelimit *rl, int64_t now)
{
	int32_t i = rl->lru;
	int n;

	for (n = 0; n < EVICT_SCAN && i != NIL; n++, i = rl->chats[i].prev)
		if (chat_expired(rl, &rl->chats[i], now))
			return i;
	return rl->lru;
}

/* Gives c an empty group log if it is a group (allocating one if the slot
 * has none); the log's
 * memory stays with the pool slot for reuse. On OOM the group falls back
 * to one send per window (see group_when). */
static void chat_group_log(struct ratelimit *rl, struct chat *c)
{
	if (c->id < 0 && c->log.t == NULL)
		(void)sendlog_init(&c->log, rl->group_max);
	c->log.n = 0;
	c->log.head = 0;
}

/* The entry for id, created (recycling one if need be) if absent. */
static int32_t chat_get(struct ratelimit *rl, int64_t id)
{
	int32_t i = chat_find(rl, id);
	struct chat *c;

	if (i != NIL) {
		lru_touch(rl, i);
		return i;
	}
	if (rl->free_head != NIL) {
		i = rl->free_head;
		rl->free_head = rl->chats[i].hnext;
	} else {
		i = chat_victim(rl, rl->now);
		hash_remove(rl, i);
		lru_unlink(rl, i);
	}
	c = &rl->chats[i];
	c->id = id;
	c->tat = LONG_AGO;
	c->blocked = LONG_AGO;
	c->last_sent = LONG_AGO;
	chat_group_log(rl, c);
	hash_insert(rl, i);
	lru_push(rl, i);
	return i;
}

static void chat_release(struct ratelimit *rl, int32_t i)
{
	hash_remove(rl, i);
	lru_unlink(rl, i);
	rl->chats[i].hnext = rl->free_head;
	rl->free_head = i;
}

/* --- public --- */

struct ratelimit *ratelimit_new(const struct ratelimit_opts *o)
{
	struct ratelimit *rl;
	int i, gps;

	if (!valid_opts(o))
		return NULL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->chat_period = period_ms(o->chat_per_second) + o->margin_ms;
	rl->group_window = GROUP_WINDOW_MS + o->margin_ms;
	rl->group_max = o->group_per_minute;
	rl->group_alert = alert_share(o->group_per_minute, o->reply_reserve);
	if (o->global_per_second < 1.0) {
		gps = 1;
		rl->global_window = period_ms(o->global_per_second) +
		    o->margin_ms;
	} else {
		gps = count_per_second(o->global_per_second);
		rl->global_window = 1000 + o->margin_ms;
	}
	rl->global_alert = alert_share(gps, o->reply_reserve);
	rl->blocked = LONG_AGO;
	rl->now = LONG_AGO;
	rl->max_chats = o->max_chats;
	/* Load factor <= 1/2 keeps chains short. */
	rl->nbuckets = 1;
	while (rl->nbuckets < 2 * (uint32_t)o->max_chats)
		rl->nbuckets <<= 1;
	rl->chats = calloc((size_t)o->max_chats, sizeof(*rl->chats));
	rl->buckets = malloc(rl->nbuckets * sizeof(*rl->buckets));
	if (rl->chats == NULL || rl->buckets == NULL ||
	    sendlog_init(&rl->global, gps) < 0) {
		ratelimit_free(rl);
		return NULL;
	}
	for (i = 0; i < (int)rl->nbuckets; i++)
		rl->buckets[i] = NIL;
	for (i = 0; i < o->max_chats; i++) {
		rl->chats[i].prev = rl->chats[i].next = NIL;
		rl->chats[i].hnext = i + 1 < o->max_chats ? i + 1 : NIL;
	}
	rl->free_head = 0;
	rl->mru = rl->lru = NIL;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	int i;

	if (rl == NULL)
		return;
	if (rl->chats != NULL)
		for (i = 0; i < rl->max_chats; i++)
			free(rl->chats[i].log.t);
	free(rl->chats);
	free(rl->buckets);
	free(rl->global.t);
	free(rl);
}

static void see_now(struct ratelimit *rl, int64_t now)
{
	if (now > rl->now)
		rl->now = now;
}

static int64_t group_when(const struct ratelimit *rl, const struct chat *c,
			  enum lane lane)
{
	int limit = lane == LANE_REPLY ? rl->group_max : rl->group_alert;

	if (c->id >= 0)
		return LONG_AGO;
	if (c->log.t == NULL)	/* no memory for the log: be strict */
		return c->last_sent + rl->group_window;
	return sendlog_when(&c->log, limit, rl->group_window);
}

/* When the chat's bucket holds enough tokens for the lane:
 * tat - T <= (burst - need) * period. */
static int64_t bucket_when(const struct ratelimit *rl, const struct chat *c,
			   enum lane lane)
{
	int need = lane == LANE_REPLY ? REPLY_TOKENS : ALERT_TOKENS;

	return c->tat - (int64_t)(CHAT_BURST - need) * rl->chat_period;
}

int64_t ratelimit_when(struct ratelimit *rl, int64_t chat, enum lane lane,
		       int64_t now)
{
	int limit = lane == LANE_REPLY ? rl->global.cap : rl->global_alert;
	int64_t t = max64(now, rl->blocked);
	const struct chat *c;
	int32_t i;

	see_now(rl, now);
	t = max64(t, sendlog_when(&rl->global, limit, rl->global_window));
	if (chat == 0 || (i = chat_find(rl, chat)) == NIL)
		return t;
	lru_touch(rl, i);
	c = &rl->chats[i];
	t = max64(t, c->blocked);
	t = max64(t, bucket_when(rl, c, lane));
	return max64(t, group_when(rl, c, lane));
}

/* A send log copied into buf (at least l->cap entries), so that a
 * simulation can add to it without touching the original. */
static struct sendlog sendlog_copy(const struct sendlog *l, int64_t *buf)
{
	struct sendlog c = *l;

	if (l->t != NULL)
		memcpy(buf, l->t, (size_t)l->cap * sizeof(*buf));
	c.t = l->t != NULL ? buf : NULL;
	return c;
}

#define DRAIN_MAX 100000

int64_t ratelimit_drain(struct ratelimit *rl, int64_t chat, int n,
			int64_t now)
{
	int64_t gbuf[MAX_WINDOW_SENDS], cbuf[MAX_WINDOW_SENDS], t = now;
	struct sendlog g = sendlog_copy(&rl->global, gbuf);
	struct chat c = { .id = chat, .tat = LONG_AGO, .blocked = LONG_AGO,
			  .last_sent = LONG_AGO };
	int32_t i = chat != 0 ? chat_find(rl, chat) : NIL;

	if (i != NIL) {
		c = rl->chats[i];
		c.log = sendlog_copy(&rl->chats[i].log, cbuf);
	} else if (chat < 0) {
		c.log.t = cbuf; /* a group never sent to: an empty log */
		c.log.cap = rl->group_max;
	}
	if (n > DRAIN_MAX)
		n = DRAIN_MAX;
	for (int k = 0; k < n; k++) {
		t = max64(now, max64(rl->blocked, c.blocked));
		t = max64(t, sendlog_when(&g, rl->global_alert,
					  rl->global_window));
		t = max64(t, bucket_when(rl, &c, LANE_ALERT));
		t = max64(t, group_when(rl, &c, LANE_ALERT));
		sendlog_add(&g, t);
		c.tat = max64(c.tat, t) + rl->chat_period;
		c.last_sent = t;
		if (c.log.t != NULL)
			sendlog_add(&c.log, t);
	}
	return t;
}

void ratelimit_sent(struct ratelimit *rl, int64_t chat, int64_t now)
{
	struct chat *c;

	see_now(rl, now);
	sendlog_add(&rl->global, now);
	if (chat == 0)
		return;
	c = &rl->chats[chat_get(rl, chat)];
	c->tat = max64(c->tat, now) + rl->chat_period;
	c->last_sent = max64(c->last_sent, now);
	if (c->log.t != NULL)
		sendlog_add(&c->log, now);
}

/* Removes the newest entry equal to t, if any: newer entries move back.
 * 1 if there was one. */
static int sendlog_remove(struct sendlog *l, int64_t t)
{
	for (int k = 1; k <= l->n; k++) {
		if (sendlog_back(l, k) != t)
			continue;
		for (int j = k; j > 1; j--)
			l->t[(l->head - j + l->cap) % l->cap] =
				sendlog_back(l, j - 1);
		l->head = (l->head - 1 + l->cap) % l->cap;
		l->n--;
		return 1;
	}
	return 0;
}

void ratelimit_unsent(struct ratelimit *rl, int64_t chat, int64_t sent)
{
	struct chat *c;
	int32_t i;

	/* Every send is in the global log: not there, nothing to undo. */
	if (!sendlog_remove(&rl->global, sent) || chat == 0 ||
	    (i = chat_find(rl, chat)) == NIL)
		return;
	c = &rl->chats[i];
	c->tat -= rl->chat_period;
	if (c->log.t != NULL)
		sendlog_remove(&c->log, sent);
}

/* A block only ever extends: a shorter retry_after arriving late must not
 * undo a longer one that is still in force. */
void ratelimit_block(struct ratelimit *rl, int64_t chat, int64_t until)
{
	struct chat *c;

	if (chat == 0) {
		rl->blocked = max64(rl->blocked, until);
		return;
	}
	c = &rl->chats[chat_get(rl, chat)];
	c->blocked = max64(c->blocked, until);
}

int64_t ratelimit_blocked_until(struct ratelimit *rl, int64_t chat)
{
	int64_t t = rl->blocked;
	int32_t i;

	if (chat != 0 && (i = chat_find(rl, chat)) != NIL)
		t = max64(t, rl->chats[i].blocked);
	return t > 0 ? t : 0;
}

/* Folds c's history into d, keeping the stricter of each constraint. */
static void chat_merge(struct chat *d, const struct chat *c)
{
	int64_t *tmp;

	d->tat = max64(d->tat, c->tat);
	d->blocked = max64(d->blocked, c->blocked);
	d->last_sent = max64(d->last_sent, c->last_sent);
	/* Nothing to merge, or d already strict (no log: one per window). */
	if (c->log.t == NULL || c->log.n == 0 || d->log.t == NULL)
		return;
	if ((tmp = malloc((size_t)d->log.cap * sizeof(*tmp))) != NULL) {
		sendlog_merge(&d->log, &c->log, tmp);
		free(tmp);
		return;
	}
	/* Cannot merge the logs: fall back to one send per window. */
	free(d->log.t);
	d->log.t = NULL;
	d->log.n = 0;
}

void ratelimit_migrate(struct ratelimit *rl, int64_t from, int64_t to)
{
	struct chat *c;
	int32_t i, j;

	if (from == to || from == 0 || to == 0 ||
	    (i = chat_find(rl, from)) == NIL)
		return;
	if ((j = chat_find(rl, to)) != NIL) {
		/* Both ids already have history (sends raced the move). */
		chat_merge(&rl->chats[j], &rl->chats[i]);
		chat_release(rl, i);
		lru_touch(rl, j);
		return;
	}
	c = &rl->chats[i];
	hash_remove(rl, i);
	c->id = to;
	hash_insert(rl, i);
	/* Private chats never become groups; if one did, it starts with an
	 * empty group log. */
	if (to < 0 && c->log.t == NULL)
		(void)sendlog_init(&c->log, rl->group_max);
	lru_touch(rl, i);
}
