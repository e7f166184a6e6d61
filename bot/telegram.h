/*
 * telegram.h - the Bot API transport: JSON POSTs to <api_url>/bot<token>/
 * through the daemon's shared HTTP transfers (xfer.h).
 *
 * Every answer is classified (tgapi.h) and counted (stats.h: requests by
 * method and code, 429s, the last success and error) before the caller's
 * function sees it. The URL, which contains the token, is never exposed or logged, and
 * the token is scrubbed from whatever Telegram's answer echoes.
 */
#ifndef OPSBOT_TELEGRAM_H
#define OPSBOT_TELEGRAM_H

#include <stddef.h>

#include "bot/tgapi.h"

struct clock;
struct stats;
struct xfer;

typedef void (*tg_done_fn)(void *arg, const struct tg_reply *r);

struct tg_opts {
	const char *api_url;
	const char *token;
	long connect_timeout; /* s */
	long request_timeout; /* s */
	size_t max_response;  /* bytes */
	const char *proxy;    /* telegram.proxy; NULL/"": the environment */
	const char *no_proxy;
	struct stats *stats;      /* every answer is counted here */
	const struct clock *clk;  /* for the stats' wall times */
};

struct tg;

/* NULL with a reason in err. The transfers run on x, which must outlive
 * tg; a call still in flight when x is freed never calls back. */
struct tg *tg_new(struct xfer *x, const struct tg_opts *o, char *err,
		  size_t errlen);
void tg_free(struct tg *tg);
/* A new token (SIGHUP re-read token_file): requests from now on use it.
 * 0, or -1 with err when the URL would not fit (the old one stays). */
int tg_set_token(struct tg *tg, const char *api_url, const char *token,
		 char *err, size_t errlen);

/* Starts POST <method> with the JSON body (taken over: freed by tg).
 * timeout: total seconds for this call (0 = request_timeout); the long
 * poll passes poll timeout + margin. fn(arg, reply) runs from the loop's
 * harvest exactly once, unless the transfers are freed first. 0 or -1. */
int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg);

#endif
