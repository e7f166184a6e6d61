/*
 * breaker.c - circuit breaker on the Bot API: after `threshold`
 * consecutive transient failures stop sending, and probe with one request
 * at a time, at growing jittered intervals, until Telegram answers again.
 * See pacing.h.
 */
#include "bot/pacing.h"

void breaker_init(struct breaker *b, int threshold, int64_t base_ms,
		  int64_t cap_ms)
{
	b->state = BREAKER_CLOSED;
	b->threshold = threshold < 1 ? 1 : threshold;
	b->failures = 0;
	b->opens = 0;
	b->probe_in_flight = 0;
	b->base_ms = base_ms < 1 ? 1 : base_ms;
	b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
	b->retry_at = 0;
	b->down_since = 0;
}

/*
 * (Re)opens: each consecutive open doubles the probe interval's ceiling.
 * The floor of base/2 keeps an unlucky draw of 0 from probing a dead API
 * in a tight loop.
 */
static void breaker_open(struct breaker *b, int64_t now, struct rng *r)
{
	int64_t delay, floor_ms;

	delay = backoff_delay(b->opens, b->base_ms, b->cap_ms, r);
	floor_ms = b->base_ms / 2 > 0 ? b->base_ms / 2 : 1;
	if (delay < floor_ms)
		delay = floor_ms;
	if (b->opens < INT32_MAX)
		b->opens++;
	b->state = BREAKER_OPEN;
	b->probe_in_flight = 0;
	b->retry_at = now + delay;
}

int breaker_allow(struct breaker *b, int64_t now)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return 1;
	case BREAKER_OPEN:
		if (now < b->retry_at)
			return 0;
		b->state = BREAKER_HALF_OPEN;
		b->probe_in_flight = 0;
		break;
	case BREAKER_HALF_OPEN:
		break;
	}
	if (b->probe_in_flight)
		return 0;
	b->probe_in_flight = 1;
	return 1;
}

int breaker_failure(struct breaker *b, int64_t now, struct rng *r)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (b->failures == 0)
			b->down_since = now;
		if (b->failures < INT32_MAX)
			b->failures++;
		if (b->failures < b->threshold)
			return 0;
		breaker_open(b, now, r);
		return 1;
	case BREAKER_OPEN:
		/* A request sent before the breaker opened failed late: the
		 * schedule of the next probe stands. */
		return 0;
	case BREAKER_HALF_OPEN:
		/* The probe failed (a late straggler cannot be told apart;
		 * reopening is the safe reading). */
		breaker_open(b, now, r);
		return 1;
	}
	return 0;
}

int breaker_success(struct breaker *b, int64_t now)
{
	int was_down = b->state != BREAKER_CLOSED;

	(void)now;
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->opens = 0;
	b->probe_in_flight = 0;
	/* down_since is left for the caller's recovery summary. */
	return was_down;
}

void breaker_release(struct breaker *b)
{
	b->probe_in_flight = 0;
}

void breaker_probe_now(struct breaker *b, int64_t now)
{
	if (b->state == BREAKER_OPEN && b->retry_at > now)
		b->retry_at = now;
}

int64_t breaker_next(const struct breaker *b, int64_t now)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return now;
	case BREAKER_OPEN:
		return b->retry_at > now ? b->retry_at : now;
	case BREAKER_HALF_OPEN:
		/* Only the probe's end (an event, not a time) can free it. */
		return b->probe_in_flight ? INT64_MAX : now;
	}
	return now;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}
