/*
 * api.h - the state of the Bot API as a whole, one policy for every
 * caller (alert sends, replies, polling): the circuit breaker (sends),
 * the pause after a 401 (each kind of request pauses on its own 401 and
 * tries again on its own timer), and the cap on what a 429's retry_after
 * is obeyed for.
 *
 * It owns no transport: callers report each answer (api_account) and ask
 * when they may start (api_gate). Time comes from the caller's clock.
 */
#ifndef OPSBOT_API_H
#define OPSBOT_API_H

#include <stdint.h>

#include "bot/pacing.h"
#include "bot/tgapi.h"
#include "bot/util.h"

struct api_opts {
	int breaker_threshold;  /* consecutive transient failures */
	int64_t retry_base_ms;  /* breaker probe backoff */
	int64_t retry_cap_ms;
	int retry_after_cap;    /* s: longest 429 wait obeyed */
	int64_t auth_retry_ms;  /* after a 401, try again this much later */
};

/* What an answer changed, for the caller to announce. */
enum api_event {
	API_NONE = 0,
	API_OPENED,    /* the breaker opened: Telegram unreachable */
	API_RECOVERED, /* an outage ended (api_down_since tells since when) */
	API_PAUSED,    /* the token was refused: everything waits */
	API_RESUMED,   /* the token works again */
};

enum api_kind { API_SEND = 0, API_POLL = 1 };

struct api;

/* clk and rng must outlive the api. NULL when out of memory. */
struct api *api_new(const struct api_opts *o, const struct clock *clk,
		    struct rng *rng);
void api_free(struct api *a);
/* New limits after a reload (the breaker keeps its state). */
void api_configure(struct api *a, const struct api_opts *o);

/* What one Bot API answer means. kind: a poll never feeds the breaker
 * (a long poll that times out is normal). */
enum api_event api_account(struct api *a, const struct tg_reply *r,
			   enum api_kind kind);
/* Earliest monotonic time a request of this kind may start (now when it
 * may; INT64_MAX while only an event can free it). */
int64_t api_gate(const struct api *a, enum api_kind kind);
/* A request of this kind is starting now: takes the breaker's probe slot
 * (a send while half-open) or the 401 probe. Call only when
 * api_gate(kind) <= now. */
void api_begin(struct api *a, enum api_kind kind);
/* retry_after of a 429 in ms, capped; *capped = 1 when it was. */
int64_t api_retry_after_ms(const struct api *a, const struct tg_reply *r,
			   int *capped);
/* /retry_now and reload: probe at once, retry a refused token now. */
void api_retry_now(struct api *a);
/* A 401 pause of either kind / of this kind is in force. */
int api_paused(const struct api *a);
int api_kind_paused(const struct api *a, enum api_kind kind);
int api_breaker_open(const struct api *a);
const char *api_breaker_name(const struct api *a);
/* Monotonic ms the last outage began (valid after API_RECOVERED). */
int64_t api_down_since(const struct api *a);


#endif
