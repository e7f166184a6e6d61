/*
 * test_mutes.c - unit tests for bot/mutes.c, the one owner of mutes: a
 * mute holds alerts only once its turn is committed, a failed commit
 * leaves no phantom mute (issue 16, item 2), the cap refuses one more,
 * the next end is the earliest whatever the order, and ended mutes are
 * expired with what they held.
 *
 * The real store runs in a temporary directory; the clock is injected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/store.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "bot/mutes.c"

#include "tests/unit/fixture.h"

#define T0 1700000000000LL
#define HOUR 3600000LL

struct fx {
	char dir[64];
	char path[128];
	struct clock clk;
	struct store *store;
	struct mutes *mutes;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "mutes") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->clk.now = 5000000;
	f->clk.wall = T0;
	f->mutes = mutes_new(f->store, &f->clk);
	if (f->mutes == NULL || mutes_load(f->mutes) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mutes_free(f->mutes);
	store_close(f->store);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* The turn's end: commit, then the mutes learn how it went. */
static void commit(struct fx *f)
{
	assert_int_equal(store_commit(f->store), 0);
	mutes_committed(f->mutes, 1);
}

/* A turn whose commit failed (the store rolled it back). */
static void commit_fails(struct fx *f)
{
	store_rollback(f->store);
	mutes_committed(f->mutes, 0);
}

/* Adds a mute of source (NULL: any) lasting ms; returns mutes_add's
 * result and the id in *id. */
static int add(struct fx *f, const char *source, int max_sev, int64_t ms,
	       int64_t *id)
{
	struct mute mu;
	int rc;

	memset(&mu, 0, sizeof(mu));
	str_copy(mu.source, source ? source : "", sizeof(mu.source));
	mu.max_severity = max_sev;
	mu.until = f->clk.wall + ms;
	mu.created_at = f->clk.wall;
	str_copy(mu.created_by, "@alice", sizeof(mu.created_by));
	rc = mutes_add(f->mutes, &mu);
	if (id)
		*id = mu.id;
	return rc;
}

/* The id of the mute holding an alert from source, 0 if none. */
static int64_t held_by(struct fx *f, const char *source, enum severity sev,
		       enum alert_status status)
{
	struct alert a;
	const struct mute *mu;

	fx_alert(&a, sev, source, "down", "x", f->clk.wall);
	a.status = status;
	mu = mutes_match(f->mutes, &a);
	alert_free(&a);
	return mu ? mu->id : 0;
}

static int stored(struct fx *f)
{
	struct mute m[64];

	return store_mutes(f->store, f->clk.wall, m, 64);
}

static void test_applies_after_commit(void **state)
{
	struct fx *f = *state;
	int64_t id;

	assert_int_equal(add(f, "db*", -1, 2 * HOUR, &id), 0);
	assert_true(id > 0);
	/* stored in the turn, but holds nothing yet */
	assert_int_equal(stored(f), 1);
	assert_int_equal(mutes_count(f->mutes), 0);
	assert_int_equal(held_by(f, "db1", SEV_CRITICAL, ALERT_FIRING), 0);

	commit(f);
	assert_int_equal(mutes_count(f->mutes), 1);
	assert_int_equal(held_by(f, "db1", SEV_CRITICAL, ALERT_FIRING), id);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), 0);
	/* a resolution is never held */
	assert_int_equal(held_by(f, "db1", SEV_CRITICAL, ALERT_RESOLVED), 0);

	/* a severity mute: this severe or less */
	assert_int_equal(add(f, NULL, SEV_WARNING, HOUR, &id), 0);
	commit(f);
	assert_int_equal(held_by(f, "web1", SEV_WARNING, ALERT_FIRING), id);
	assert_int_equal(held_by(f, "web1", SEV_INFO, ALERT_FIRING), id);
	assert_int_equal(held_by(f, "web1", SEV_ERROR, ALERT_FIRING), 0);

	/* a mute no longer holds once its end has come */
	f->clk.wall += 2 * HOUR;
	assert_int_equal(held_by(f, "db1", SEV_CRITICAL, ALERT_FIRING), 0);
}

/* /mute confirmed in a turn whose commit failed: nothing is stored, and
 * nothing may be held by it (issue 16, item 2). */
static void test_failed_commit_no_phantom(void **state)
{
	struct fx *f = *state;
	int64_t kept, lost;
	struct mute m[4];

	assert_int_equal(add(f, "web*", -1, HOUR, &kept), 0);
	commit(f);

	assert_int_equal(add(f, "db*", -1, 2 * HOUR, &lost), 0);
	commit_fails(f);
	assert_int_equal(stored(f), 1);
	assert_int_equal(mutes_count(f->mutes), 1);
	assert_int_equal(held_by(f, "db1", SEV_CRITICAL, ALERT_FIRING), 0);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), kept);
	assert_int_equal(mutes_list(f->mutes, m, 4), 1);
	assert_int_equal(m[0].id, kept);
	assert_int_equal(mutes_next_end(f->mutes), T0 + HOUR);

	/* an /unmute whose turn failed leaves the mute in force */
	assert_int_equal(mutes_del(f->mutes, 0), 1);
	commit_fails(f);
	assert_int_equal(mutes_count(f->mutes), 1);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), kept);

	/* and one that committed ends it */
	assert_int_equal(mutes_del(f->mutes, kept), 1);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), 0);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), 0);
}

/* As many as are applied, and no more: the 33rd is refused, whether the
 * others were committed earlier or are in the same turn. */
static void test_cap(void **state)
{
	struct fx *f = *state;
	int64_t id;

	for (int i = 0; i < MUTES_MAX / 2; i++)
		assert_int_equal(add(f, "db*", -1, HOUR, NULL), 0);
	commit(f);
	for (int i = MUTES_MAX / 2; i < MUTES_MAX; i++)
		assert_int_equal(add(f, "db*", -1, HOUR, NULL), 0);
	assert_int_equal(add(f, "web*", -1, HOUR, &id), 1);
	assert_int_equal(stored(f), MUTES_MAX);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), MUTES_MAX);
	assert_int_equal(add(f, "web*", -1, HOUR, NULL), 1);
	assert_int_equal(stored(f), MUTES_MAX);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), 0);

	/* ended mutes do not count */
	f->clk.wall += HOUR;
	assert_int_equal(add(f, "web*", -1, HOUR, &id), 0);
	commit(f);
	assert_int_equal(held_by(f, "web1", SEV_CRITICAL, ALERT_FIRING), id);
}

/* The list is in id order; the next end is the earliest end. */
static void test_next_end_order(void **state)
{
	struct fx *f = *state;

	assert_true(mutes_next_end(f->mutes) == INT64_MAX);
	assert_int_equal(add(f, "a*", -1, 3 * HOUR, NULL), 0);
	assert_int_equal(add(f, "b*", -1, 1 * HOUR, NULL), 0);
	assert_int_equal(add(f, "c*", -1, 2 * HOUR, NULL), 0);
	/* not before the commit */
	assert_true(mutes_next_end(f->mutes) == INT64_MAX);
	commit(f);
	assert_int_equal(mutes_next_end(f->mutes), T0 + 1 * HOUR);
}

static void test_expire(void **state)
{
	struct fx *f = *state;
	int64_t a, b, c;
	struct mute gone[4];

	assert_int_equal(add(f, "a*", -1, 3 * HOUR, &a), 0);
	assert_int_equal(add(f, "b*", -1, 1 * HOUR, &b), 0);
	assert_int_equal(add(f, "c*", -1, 2 * HOUR, &c), 0);
	commit(f);
	assert_int_equal(mutes_hold(f->mutes, b), 0);
	assert_int_equal(mutes_hold(f->mutes, b), 0);
	commit(f);

	/* nothing has ended yet */
	assert_int_equal(mutes_expire(f->mutes, gone, 4), 0);
	f->clk.wall = T0 + HOUR;
	assert_int_equal(mutes_expire(f->mutes, gone, 4), 1);
	assert_int_equal(gone[0].id, b);
	assert_int_equal(gone[0].held, 2);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), 2);
	assert_int_equal(mutes_next_end(f->mutes), T0 + 2 * HOUR);
	assert_int_equal(mutes_expire(f->mutes, gone, 4), 0);

	f->clk.wall = T0 + 5 * HOUR;
	assert_int_equal(mutes_expire(f->mutes, gone, 4), 2);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), 0);
	assert_true(mutes_next_end(f->mutes) == INT64_MAX);
	assert_int_equal(stored(f), 0);
}

/* A restart reads the active mutes back. */
static void test_load(void **state)
{
	struct fx *f = *state;
	struct mutes *again;
	int64_t id;

	assert_int_equal(add(f, "db*", -1, HOUR, &id), 0);
	commit(f);
	again = mutes_new(f->store, &f->clk);
	assert_non_null(again);
	assert_int_equal(mutes_count(again), 0);
	assert_int_equal(mutes_load(again), 0);
	assert_int_equal(mutes_count(again), 1);
	assert_int_equal(mutes_next_end(again), T0 + HOUR);
	mutes_free(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_applies_after_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit_no_phantom,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_end_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
