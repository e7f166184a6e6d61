/*
 * test_backoff.c - unit tests for bot/rng.c and bot/backoff.c: the
 * generator's seeding and range, and full-jitter backoff bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <cmocka.h>

#include "bot/rng.c"
#include "bot/backoff.c"

#define DRAWS 4000

/* The ceiling the test expects, computed the slow, obvious way. */
static int64_t expect_hi(int attempt, int64_t base, int64_t cap)
{
	int64_t hi = base;
	int i;

	for (i = 0; i < attempt; i++) {
		if (hi > cap / 2)
			return cap;
		hi *= 2;
	}
	return hi < cap ? hi : cap;
}

static void test_rng_seed_zero(void **state)
{
	struct rng a, b;
	int i;

	(void)state;
	rng_seed(&a, 0);
	rng_seed(&b, 0);
	assert_true(a.s != 0);
	assert_true(a.s == b.s);
	for (i = 0; i < 100; i++)
		assert_true(rng_next(&a) == rng_next(&b));
	assert_true(a.s != 0);
}

static void test_rng_seeds_differ(void **state)
{
	struct rng a, b;
	int i, same = 0;

	(void)state;
	rng_seed(&a, 1);
	rng_seed(&b, 2);
	for (i = 0; i < 100; i++)
		same += rng_next(&a) == rng_next(&b);
	assert_true(same == 0);
}

static void test_rng_below(void **state)
{
	struct rng r;
	int seen[7] = { 0 };
	int i;

	(void)state;
	rng_seed(&r, 42);
	assert_true(rng_below(&r, 0) == 0);
	assert_true(rng_below(&r, -5) == 0);
	assert_true(rng_below(&r, 1) == 0);
	for (i = 0; i < 7000; i++) {
		int64_t v = rng_below(&r, 7);

		assert_true(v >= 0 && v < 7);
		seen[v]++;
	}
	/* Each of 7 values expects 1000; a loose band catches a biased or
	 * stuck generator without flaking (the seed is fixed anyway). */
	for (i = 0; i < 7; i++)
		assert_in_range(seen[i], 800, 1200);
	for (i = 0; i < 1000; i++) {
		int64_t v = rng_below(&r, INT64_MAX);

		assert_true(v >= 0 && v < INT64_MAX);
	}
}

static void test_backoff_bounds(void **state)
{
	const int64_t base = 100, cap = 60000;
	struct rng r;
	int a, i;

	(void)state;
	rng_seed(&r, 7);
	for (a = 0; a < 12; a++) {
		int64_t hi = expect_hi(a, base, cap), max = 0, sum = 0;

		for (i = 0; i < DRAWS; i++) {
			int64_t d = backoff_delay(a, base, cap, &r);

			assert_true(d >= 0 && d <= hi);
			if (d > max)
				max = d;
			sum += d;
		}
		/* Full jitter uses the whole interval, mean about hi / 2. */
		assert_true(max >= hi - hi / 20);
		assert_true(sum / DRAWS > hi * 2 / 5 && sum / DRAWS < hi * 3 / 5);
	}
}

static void test_backoff_upper_bound_grows(void **state)
{
	const int64_t base = 50, cap = 100000;
	struct rng r;
	int64_t prev_hi = -1;
	int a, i;

	(void)state;
	rng_seed(&r, 11);
	for (a = 0; expect_hi(a, base, cap) < cap; a++) {
		int64_t max = 0;

		for (i = 0; i < DRAWS; i++) {
			int64_t d = backoff_delay(a, base, cap, &r);

			if (d > max)
				max = d;
		}
		/* Draws beyond the previous ceiling prove it doubled. */
		assert_true(max > prev_hi);
		prev_hi = expect_hi(a, base, cap);
	}
	assert_true(a > 5);
}

static void test_backoff_cap(void **state)
{
	const int64_t base = 1000, cap = 30000;
	struct rng r;
	int attempts[] = { 5, 6, 20, 61, 62, 63, 64, 1000, INT_MAX };
	size_t k;
	int i;

	(void)state;
	rng_seed(&r, 3);
	for (k = 0; k < sizeof(attempts) / sizeof(attempts[0]); k++) {
		int64_t max = 0;

		for (i = 0; i < DRAWS; i++) {
			int64_t d = backoff_delay(attempts[k], base, cap, &r);

			assert_true(d >= 0 && d <= cap);
			if (d > max)
				max = d;
		}
		assert_true(max > cap - cap / 20);
	}
	/* A cap below base caps base itself. */
	for (i = 0; i < DRAWS; i++)
		assert_true(backoff_delay(0, base, base / 4, &r) <= base / 4);
}

static void test_backoff_deterministic(void **state)
{
	struct rng a, b, c;
	int i, differ = 0;

	(void)state;
	rng_seed(&a, 1234);
	rng_seed(&b, 1234);
	rng_seed(&c, 1235);
	for (i = 0; i < 200; i++) {
		int64_t x = backoff_delay(i % 20, 10, 100000, &a);
		int64_t y = backoff_delay(i % 20, 10, 100000, &b);
		int64_t z = backoff_delay(i % 20, 10, 100000, &c);

		assert_true(x == y);
		differ += x != z;
	}
	assert_true(differ > 100);
}

static void test_backoff_large_and_odd(void **state)
{
	struct rng r;
	int i;

	(void)state;
	rng_seed(&r, 99);
	for (i = 0; i < 1000; i++) {
		int64_t d;

		d = backoff_delay(INT_MAX, INT64_MAX / 2, INT64_MAX, &r);
		assert_true(d >= 0);
		d = backoff_delay(62, INT64_MAX, INT64_MAX, &r);
		assert_true(d >= 0);
		d = backoff_delay(30, 1 << 30, INT64_MAX - 1, &r);
		assert_true(d >= 0 && d < INT64_MAX);
		/* Negative attempts count as 0. */
		d = backoff_delay(INT_MIN, 100, 1000, &r);
		assert_true(d >= 0 && d <= 100);
	}
	assert_true(backoff_delay(3, 0, 1000, &r) == 0);
	assert_true(backoff_delay(3, -5, 1000, &r) == 0);
	assert_true(backoff_delay(3, 100, 0, &r) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_seed_zero),
		cmocka_unit_test(test_rng_seeds_differ),
		cmocka_unit_test(test_rng_below),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_upper_bound_grows),
		cmocka_unit_test(test_backoff_cap),
		cmocka_unit_test(test_backoff_deterministic),
		cmocka_unit_test(test_backoff_large_and_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
