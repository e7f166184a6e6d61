/*
 * mutes.c - active mutes: match, add, expire, reload. See mutes.h.
 */
#include "bot/mutes.h"

#include <fnmatch.h>
#include <stdlib.h>

struct mutes {
	struct store *st;
	const struct clock *clk;
	struct mute act[MUTES_MAX];
	size_t n;
	int dirty; /* the store changed this turn: reload after commit */
};

struct mutes *mutes_new(struct store *st, const struct clock *clk)
{
	struct mutes *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->st = st;
	m->clk = clk;
	return m;
}

void mutes_free(struct mutes *m)
{
	free(m);
}

int mutes_load(struct mutes *m)
{
	int n = store_mutes(m->st, m->clk->wall, m->act, MUTES_MAX);

	m->dirty = 0;
	if (n < 0)
		return -1;
	m->n = (size_t)n;
	return 0;
}

static int mute_holds(const struct mute *mu, const struct alert *a)
{
	if (mu->max_severity >= 0 && (int)a->severity < mu->max_severity)
		return 0;
	if (mu->source[0] == '\0')
		return 1;
	return fnmatch(mu->source, a->source ? a->source : "", 0) == 0;
}

const struct mute *mutes_match(const struct mutes *m, const struct alert *a)
{
	if (a->status == ALERT_RESOLVED)
		return NULL; /* a resolution is always good news to hear */
	for (size_t i = 0; i < m->n; i++)
		if (m->act[i].until > m->clk->wall && mute_holds(&m->act[i], a))
			return &m->act[i];
	return NULL;
}

int mutes_hold(struct mutes *m, int64_t id)
{
	return store_mute_hold(m->st, id);
}

int mutes_add(struct mutes *m, struct mute *mu)
{
	struct mute active[MUTES_MAX];

	/* Storing one more than is applied would promise a mute that never
	 * holds anything. The store is asked: it includes this turn's. */
	if (store_mutes(m->st, m->clk->wall, active, MUTES_MAX) >= MUTES_MAX)
		return 1;
	if (store_mute_add(m->st, mu) != 0)
		return -1;
	m->dirty = 1;
	return 0;
}

int mutes_del(struct mutes *m, int64_t id)
{
	int n = store_mute_del(m->st, id);

	if (n > 0)
		m->dirty = 1;
	return n;
}

int mutes_list(struct mutes *m, struct mute *out, size_t max)
{
	return store_mutes(m->st, m->clk->wall, out, max);
}

int mutes_expire(struct mutes *m, struct mute *gone, size_t max)
{
	int n = store_mutes_expire(m->st, m->clk->wall, gone, max);

	if (n > 0)
		m->dirty = 1;
	return n;
}

/* The list is in id order, not end order: a later mute may end first. */
int64_t mutes_next_end(const struct mutes *m)
{
	int64_t t = INT64_MAX;

	for (size_t i = 0; i < m->n; i++)
		if (m->act[i].until < t)
			t = m->act[i].until;
	return t;
}

size_t mutes_count(const struct mutes *m)
{
	return m->n;
}

void mutes_committed(struct mutes *m, int ok)
{
	if (m->dirty || !ok)
		mutes_load(m);
}
