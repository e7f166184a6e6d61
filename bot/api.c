/*
 * api.c - the Bot API's state as a whole: breaker, 401 pause, retry_after
 * cap. See api.h.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>

struct api {
	struct api_opts o;
	struct breaker breaker;
	const struct clock *clk;
	struct rng *rng;
	int paused;             /* 401 seen, not yet answered otherwise */
	int64_t pause_retry_at; /* mono: then one request may try again */
	int probing;            /* that request is in flight */
	int64_t last_ok_wall, last_err_wall;
	char last_err[256];
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

static void note_error(struct api *a, const struct tg_reply *r)
{
	a->last_err_wall = a->clk->wall;
	snprintf(a->last_err, sizeof(a->last_err), "%s: %s",
		 tg_outcome_name(r->outcome), r->description);
}

enum api_event api_account(struct api *a, const struct tg_reply *r,
			   enum api_kind kind)
{
	int64_t now = a->clk->now;

	a->probing = 0;
	if (r->outcome == TG_TRANSIENT) {
		note_error(a, r);
		if (kind == API_SEND && breaker_failure(&a->breaker, now, a->rng) &&
		    a->breaker.opens == 1)
			return API_OPENED;
		return API_NONE;
	}
	if (r->outcome == TG_UNAUTHORIZED) {
		int first = !a->paused;

		note_error(a, r);
		a->paused = 1;
		a->pause_retry_at = now + a->o.auth_retry_ms;
		breaker_release(&a->breaker);
		return first ? API_PAUSED : API_NONE;
	}
	if (r->outcome != TG_OK && r->outcome != TG_NOT_MODIFIED)
		note_error(a, r);
	else
		a->last_ok_wall = a->clk->wall;
	if (a->paused) {
		a->paused = 0;
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

	if (a->paused) {
		/* One request at a time finds out whether the token works. */
		if (a->probing)
			return INT64_MAX;
		if (a->pause_retry_at > gate)
			gate = a->pause_retry_at;
	}
	return gate;
}

void api_begin(struct api *a, enum api_kind kind)
{
	if (a->paused)
		a->probing = 1;
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
	if (a->paused && !a->probing)
		a->pause_retry_at = a->clk->now;
}

int api_paused(const struct api *a)
{
	return a->paused;
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

int64_t api_last_ok_wall(const struct api *a)
{
	return a->last_ok_wall;
}

int64_t api_last_error(const struct api *a, const char **text)
{
	*text = a->last_err;
	return a->last_err_wall;
}
