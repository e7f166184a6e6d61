/*
 * backoff.c - exponential backoff with full jitter for retries and for
 * the breaker's probes. See pacing.h.
 *
 * Full jitter (a uniform draw over the whole interval) spreads the retries
 * of many deliveries that failed together, so they do not return in
 * lockstep and trip the same limit again.
 */
#include "bot/pacing.h"

/* 2^62 is the largest power of two that fits int64_t with room to spare. */
#define BACKOFF_MAX_SHIFT 62

/* min(cap, base * 2^attempt) without ever computing an overflowing product. */
static int64_t backoff_ceiling(int attempt, int64_t base_ms, int64_t cap_ms)
{
	if (attempt < 0)
		attempt = 0;
	if (attempt >= BACKOFF_MAX_SHIFT)
		return cap_ms;
	/* base << attempt <= cap  <=>  base <= cap >> attempt */
	if (base_ms > (cap_ms >> attempt))
		return cap_ms;
	return base_ms << attempt;
}

int64_t backoff_delay(int attempt, int64_t base_ms, int64_t cap_ms,
		      struct rng *r)
{
	int64_t hi;

	if (base_ms <= 0 || cap_ms <= 0)
		return 0;
	hi = backoff_ceiling(attempt, base_ms, cap_ms);
	/* The interval is closed: [0, hi] has hi + 1 values. */
	if (hi == INT64_MAX)
		return (int64_t)(rng_next(r) >> 1);
	return rng_below(r, hi + 1);
}
