/*
 * telegram.h - the Bot API transport: JSON POSTs to <api_url>/bot<token>/
 * over one libcurl multi handle shared with the event loop.
 *
 * Each call is one easy handle (connection reuse through the multi's
 * connection cache), with connect and total timeouts, a capped response,
 * TLS verification, telegram.proxy (else libcurl's proxy environment),
 * and its own error buffer.
 * Finished transfers are harvested in one place (tg_harvest), which
 * classifies the reply (tgapi.h) and calls the caller's function. The URL,
 * which contains the token, is never exposed or logged.
 */
#ifndef OPSBOT_TELEGRAM_H
#define OPSBOT_TELEGRAM_H

#include <stddef.h>

#include "tgapi.h"

typedef void (*tg_done_fn)(void *arg, const struct tg_reply *r);

struct tg_opts {
	const char *api_url;
	const char *token;
	long connect_timeout; /* s */
	long request_timeout; /* s */
	size_t max_response;  /* bytes */
	const char *proxy;    /* telegram.proxy; NULL/"" = libcurl's env */
	const char *no_proxy; /* telegram.no_proxy (only with proxy) */
};

struct tg;

/* NULL with a reason in err. Caller frees with tg_free (which aborts
 * in-flight transfers without calling their functions). */
struct tg *tg_new(const struct tg_opts *o, char *err, size_t errlen);
void tg_free(struct tg *tg);

/* Starts POST <method> with the JSON body (taken over: freed by tg).
 * timeout: total seconds for this call (0 = request_timeout); the long
 * poll passes poll timeout + margin. fn(arg, reply) runs from
 * tg_harvest exactly once, unless tg_free comes first. 0 or -1. */
int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg);

/* The multi handle, for curl_multi_poll/perform in the loop. */
void *tg_multi(struct tg *tg);
/* Runs curl_multi_perform and calls fn for every finished transfer.
 * Returns how many finished. */
int tg_harvest(struct tg *tg);
int tg_inflight(const struct tg *tg);

#endif
