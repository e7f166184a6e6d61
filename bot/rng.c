/*
 * rng.c - the caller-owned pseudo-random generator behind jitter:
 * xorshift64* (Vigna). Not for secrets; only for spreading retries.
 * See pacing.h.
 */
#include "bot/pacing.h"

/* Any fixed odd constant will do; this one is 2^64 / golden ratio. */
#define RNG_GOLDEN UINT64_C(0x9e3779b97f4a7c15)

/*
 * Seeds are often small integers (tests, pids); splitmix64's finalizer
 * spreads them over all 64 bits so that nearby seeds give unrelated
 * streams from the first draw on.
 */
static uint64_t rng_mix(uint64_t z)
{
	z += RNG_GOLDEN;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
	r->s = rng_mix(seed);
	/* xorshift is stuck at 0 forever; one seed maps there. */
	if (r->s == 0)
		r->s = RNG_GOLDEN;
}

uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s;

	if (x == 0)	/* never seeded (zeroed struct): still make progress */
		x = RNG_GOLDEN;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

int64_t rng_below(struct rng *r, int64_t n)
{
	uint64_t un, skip, x;

	if (n <= 0)
		return 0;
	un = (uint64_t)n;
	/*
	 * Rejection sampling: the lowest 2^64 mod n values would make the
	 * low results more likely than the high ones; redraw them.
	 */
	skip = (0 - un) % un;
	do
		x = rng_next(r);
	while (x < skip);
	return (int64_t)(x % un);
}
