/*
 * test_breaker.c - unit tests for bot/breaker.c: every state transition,
 * one probe at a time, growing and capped probe intervals, /retry_now.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bot/rng.c"
#include "bot/backoff.c"
#include "bot/breaker.c"

#define THRESHOLD 5
#define BASE 1000
#define CAP 16000
#define T0 1000000

/* Fails b `n` times at `now`, returning how many calls said "opened". */
static int fail_n(struct breaker *b, int n, int64_t now, struct rng *r)
{
	int i, opened = 0;

	for (i = 0; i < n; i++)
		opened += breaker_failure(b, now + i, r);
	return opened;
}

/* Opens a fresh breaker; returns the time of the last failure. */
static int64_t open_it(struct breaker *b, struct rng *r)
{
	breaker_init(b, THRESHOLD, BASE, CAP);
	assert_int_equal(fail_n(b, THRESHOLD, T0, r), 1);
	assert_int_equal(b->state, BREAKER_OPEN);
	return T0 + THRESHOLD - 1;
}

static void test_closed_allows(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, THRESHOLD, BASE, CAP);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_allow(&b, T0));
	assert_true(breaker_allow(&b, T0));
	assert_int_equal(b.probe_in_flight, 0);
	assert_true(breaker_next(&b, T0) == T0);
	assert_int_equal(breaker_success(&b, T0), 0);
}

static void test_opens_at_threshold_exactly(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t last;

	(void)state;
	rng_seed(&r, 1);
	breaker_init(&b, THRESHOLD, BASE, CAP);
	assert_int_equal(fail_n(&b, THRESHOLD - 1, T0, &r), 0);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.failures, THRESHOLD - 1);
	assert_true(breaker_allow(&b, T0 + 10));
	last = T0 + 20;
	assert_int_equal(breaker_failure(&b, last, &r), 1);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.opens, 1);
	assert_true(b.down_since == T0);
	/* First open: attempt 0, so within [base/2, base]. */
	assert_true(b.retry_at >= last + BASE / 2 && b.retry_at <= last + BASE);
	assert_false(breaker_allow(&b, last));
	assert_true(breaker_next(&b, last) == b.retry_at);
}

static void test_success_resets_failures(void **state)
{
	struct breaker b;
	struct rng r;

	(void)state;
	rng_seed(&r, 2);
	breaker_init(&b, THRESHOLD, BASE, CAP);
	assert_int_equal(fail_n(&b, THRESHOLD - 1, T0, &r), 0);
	assert_int_equal(breaker_success(&b, T0 + 50), 0);
	assert_int_equal(b.failures, 0);
	assert_int_equal(fail_n(&b, THRESHOLD - 1, T0 + 100, &r), 0);
	assert_int_equal(b.state, BREAKER_CLOSED);
	/* The new run starts its own outage clock. */
	assert_true(b.down_since == T0 + 100);
}

static void test_threshold_one(void **state)
{
	struct breaker b;
	struct rng r;

	(void)state;
	rng_seed(&r, 3);
	breaker_init(&b, 0, BASE, CAP);	/* nonsense: treated as 1 */
	assert_int_equal(breaker_failure(&b, T0, &r), 1);
	assert_int_equal(b.state, BREAKER_OPEN);
}

static void test_half_open_one_probe(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t at;

	(void)state;
	rng_seed(&r, 4);
	open_it(&b, &r);
	at = b.retry_at;
	assert_false(breaker_allow(&b, at - 1));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_true(breaker_allow(&b, at));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(b.probe_in_flight, 1);
	assert_false(breaker_allow(&b, at));
	assert_false(breaker_allow(&b, at + 100000));
	assert_true(breaker_next(&b, at + 5) == INT64_MAX);
}

static void test_late_failure_while_open(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t at;

	(void)state;
	rng_seed(&r, 5);
	open_it(&b, &r);
	at = b.retry_at;
	assert_int_equal(breaker_failure(&b, T0 + 100, &r), 0);
	assert_true(b.retry_at == at);
	assert_int_equal(b.opens, 1);
}

static void test_probe_failure_reopens(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t at;

	(void)state;
	rng_seed(&r, 6);
	open_it(&b, &r);
	at = b.retry_at;
	assert_true(breaker_allow(&b, at));
	assert_int_equal(breaker_failure(&b, at + 30, &r), 1);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.opens, 2);
	assert_int_equal(b.probe_in_flight, 0);
	assert_true(b.down_since == T0);
	/* Second open: attempt 1, within [base/2, 2 base] of the failure. */
	assert_true(b.retry_at >= at + 30 + BASE / 2);
	assert_true(b.retry_at <= at + 30 + 2 * BASE);
	assert_false(breaker_allow(&b, b.retry_at - 1));
}

static void test_backoff_grows_and_caps(void **state)
{
	int64_t prev_max = 0;
	int level, seed;

	(void)state;
	/* Over many seeds, the longest wait after each consecutive open
	 * rises until the cap and never passes it. */
	for (level = 1; level <= 8; level++) {
		int64_t max = 0, hi = (int64_t)BASE << (level - 1);

		if (hi > CAP)
			hi = CAP;
		for (seed = 0; seed < 300; seed++) {
			struct breaker b;
			struct rng r;
			int64_t now = T0, wait = 0;
			int k;

			rng_seed(&r, (uint64_t)seed);
			breaker_init(&b, 1, BASE, CAP);
			for (k = 0; k < level; k++) {
				if (k > 0) {
					now = b.retry_at;
					assert_true(breaker_allow(&b, now));
				}
				assert_int_equal(breaker_failure(&b, now, &r), 1);
				wait = b.retry_at - now;
			}
			assert_int_equal(b.opens, level);
			assert_true(wait >= BASE / 2 && wait <= hi);
			if (wait > max)
				max = wait;
		}
		if (hi < CAP)
			assert_true(max > prev_max);
		assert_true(max > hi - hi / 10);
		prev_max = max;
	}
}

static void test_success_closes(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t at;

	(void)state;
	rng_seed(&r, 8);
	open_it(&b, &r);
	at = b.retry_at;
	assert_true(breaker_allow(&b, at));
	assert_int_equal(breaker_success(&b, at + 40), 1);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.opens, 0);
	assert_int_equal(b.failures, 0);
	assert_int_equal(b.probe_in_flight, 0);
	assert_true(b.down_since == T0);	/* for the recovery summary */
	assert_true(breaker_allow(&b, at + 41));
	assert_int_equal(breaker_success(&b, at + 42), 0);
	/* The next outage starts its backoff from the beginning. */
	assert_int_equal(fail_n(&b, THRESHOLD, at + 100, &r), 1);
	assert_int_equal(b.opens, 1);
	assert_true(b.down_since == at + 100);
	assert_true(b.retry_at <= at + 100 + THRESHOLD - 1 + BASE);
}

static void test_success_while_open(void **state)
{
	struct breaker b;
	struct rng r;

	(void)state;
	rng_seed(&r, 9);
	open_it(&b, &r);
	/* A straggler sent before the outage answered: Telegram is back. */
	assert_int_equal(breaker_success(&b, T0 + 10), 1);
	assert_int_equal(b.state, BREAKER_CLOSED);
}

static void test_release(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t at;

	(void)state;
	rng_seed(&r, 10);
	open_it(&b, &r);
	at = b.retry_at;
	assert_true(breaker_allow(&b, at));
	breaker_release(&b);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_int_equal(b.probe_in_flight, 0);
	assert_int_equal(b.opens, 1);
	assert_true(breaker_next(&b, at + 1) == at + 1);
	assert_true(breaker_allow(&b, at + 1));
	assert_false(breaker_allow(&b, at + 1));
}

static void test_probe_now(void **state)
{
	struct breaker b;
	struct rng r;
	int64_t now;

	(void)state;
	rng_seed(&r, 11);
	open_it(&b, &r);
	now = T0 + 10;
	assert_true(b.retry_at > now);
	assert_false(breaker_allow(&b, now));
	breaker_probe_now(&b, now);
	assert_true(breaker_next(&b, now) == now);
	assert_true(breaker_allow(&b, now));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	/* Not a second probe while one is out. */
	breaker_probe_now(&b, now);
	assert_false(breaker_allow(&b, now));
	/* No effect on a closed breaker. */
	breaker_init(&b, THRESHOLD, BASE, CAP);
	breaker_probe_now(&b, now);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_true(breaker_allow(&b, now));
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
	assert_string_equal(breaker_state_name((enum breaker_state)42),
	    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_allows),
		cmocka_unit_test(test_opens_at_threshold_exactly),
		cmocka_unit_test(test_success_resets_failures),
		cmocka_unit_test(test_threshold_one),
		cmocka_unit_test(test_half_open_one_probe),
		cmocka_unit_test(test_late_failure_while_open),
		cmocka_unit_test(test_probe_failure_reopens),
		cmocka_unit_test(test_backoff_grows_and_caps),
		cmocka_unit_test(test_success_closes),
		cmocka_unit_test(test_success_while_open),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_probe_now),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
