/*
 * api.c - the Bot API's state as a whole: breaker, 401 pause, retry_after
 * cap. See api.h.
 */
#include "bot/api.h"

#include <stdlib.h>

struct api {
	struct api_opts o;
	struct breaker breaker;
	const struct clock *clk;
	struct rng *rng;
	/* Per kind of request, one policy: a 401 pauses that kind, which
	 * finds out for itself, on its own timer, that the token works
	 * again (a quiet system still gets its commands back). */
	int paused[2];             /* 401 seen, no success since */
	int64_t pause_retry_at[2]; /* mono: then one request may try again */
	int probing[2];            /* that request is in flight */
};

struct api *api_new(const struct api_opts *o, const struct clock *clk,
		    struct rng *rng)
{
	struct api *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->clk = clk;
	a->rng = rng;
	a->o = *o;
	breaker_init(&a->breaker, o->breaker_threshold, o->retry_base_ms,
		     o->retry_cap_ms);
	return a;
}

void api_free(struct api *a)
{
	free(a);
}

void api_configure(struct api *a, const struct api_opts *o)
{
	a->o = *o;
	a->breaker.threshold = o->breaker_threshold < 1 ? 1 :
			       o->breaker_threshold;
}

enum api_event api_account(struct api *a, const struct tg_reply *r,
			   enum api_kind kind)
{
	int64_t now = a->clk->now;

	a->probing[kind] = 0;
	if (r->outcome == TG_TRANSIENT) {
		if (kind == API_SEND && breaker_failure(&a->breaker, now, a->rng) &&
		    a->breaker.opens == 1)
			return API_OPENED;
		return API_NONE;
	}
	if (r->outcome == TG_UNAUTHORIZED) {
		int first = !a->paused[kind];

		a->paused[kind] = 1;
		a->pause_retry_at[kind] = now + a->o.auth_retry_ms;
		if (kind == API_SEND)
			breaker_release(&a->breaker);
		return first ? API_PAUSED : API_NONE;
	}
	if (a->paused[kind]) {
		a->paused[kind] = 0;
		if (kind == API_SEND)
			breaker_success(&a->breaker, now);
		return API_RESUMED;
	}
	if (kind == API_SEND && breaker_success(&a->breaker, now))
		return API_RECOVERED;
	return API_NONE;
}

int64_t api_gate(const struct api *a, enum api_kind kind)
{
	int64_t now = a->clk->now;

	int64_t gate = kind == API_SEND ? breaker_next(&a->breaker, now) : now;

	if (a->paused[kind]) {
		/* One request at a time finds out whether the token works. */
		if (a->probing[kind])
			return INT64_MAX;
		if (a->pause_retry_at[kind] > gate)
			gate = a->pause_retry_at[kind];
	}
	return gate;
}

void api_begin(struct api *a, enum api_kind kind)
{
	if (a->paused[kind])
		a->probing[kind] = 1;
	else if (kind == API_SEND)
		(void)breaker_allow(&a->breaker, a->clk->now);
}

int64_t api_retry_after_ms(const struct api *a, const struct tg_reply *r,
			   int *capped)
{
	int64_t secs = r->retry_after > 0 ? r->retry_after : 1;

	*capped = secs > a->o.retry_after_cap;
	if (*capped)
		secs = a->o.retry_after_cap;
	return secs * 1000;
}

void api_retry_now(struct api *a)
{
	breaker_probe_now(&a->breaker, a->clk->now);
	for (int k = 0; k < 2; k++)
		if (a->paused[k] && !a->probing[k])
			a->pause_retry_at[k] = a->clk->now;
}

int api_paused(const struct api *a)
{
	return a->paused[API_SEND] || a->paused[API_POLL];
}

int api_kind_paused(const struct api *a, enum api_kind kind)
{
	return a->paused[kind];
}

int api_breaker_open(const struct api *a)
{
	return a->breaker.state != BREAKER_CLOSED;
}

const char *api_breaker_name(const struct api *a)
{
	return breaker_state_name(a->breaker.state);
}

int64_t api_down_since(const struct api *a)
{
	return a->breaker.down_since;
}
