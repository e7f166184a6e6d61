/*
 * amclient.h - requests to Prometheus Alertmanager's API v2 over the
 * daemon's transfers (xfer.h): the same curl multi handle as the Bot API,
 * each request with its own timeouts, and nothing of the Telegram rate
 * budget.
 *
 * Two ways to send:
 *   am_request       to the cluster: the peers in the configured order,
 *                    the next one tried when a peer does not answer or
 *                    answers 404, 408, 429 or 5xx; the first 2xx or other
 *                    4xx answer is final (a silence is gossiped from the
 *                    peer that took it; a request one peer refuses the
 *                    others refuse too).
 *   am_request_peer  to one peer, no failover (the relay posts every
 *                    alert to every peer: Alertmanager does not share
 *                    alerts between peers).
 * The caller's context is copied into the request and handed back to its
 * function, exactly once, from xfer_harvest; am_free frees the contexts
 * of requests still in flight (whose transfers xfer_free aborted), so a
 * context must own nothing that needs freeing.
 *
 * Never logs. Credentials are never part of an error text.
 */
#ifndef OPSBOT_AMCLIENT_H
#define OPSBOT_AMCLIENT_H

#include <stddef.h>
#include <stdint.h>

#define AM_MAX_PEERS 8
#define AM_MAX_URL 512       /* bytes of a peer's base URL, with the NUL */
#define AM_MAX_INFLIGHT 64   /* requests at once; one more is refused */
#define AM_MAX_CTX 4096      /* bytes of caller context per request */
#define AM_MAX_ERROR 1024    /* bytes of an error text */
#define AM_MAX_BODY (1 << 20)/* bytes of a request body */

struct xfer;

struct am_opts {
	const char *peers[AM_MAX_PEERS]; /* base URLs, no trailing '/' */
	size_t npeers;
	const char *token;    /* bearer token, or NULL / "" */
	const char *user;     /* basic auth with password, or NULL / "" */
	const char *password;
	long connect_timeout; /* s */
	long timeout;         /* s, total per peer */
	size_t max_response;  /* bytes of an answer kept */
};

/* How a request ended. */
struct am_answer {
	int ok;            /* 1: a peer answered 2xx */
	int peer;          /* index of the peer that answered last; -1 none */
	const char *url;   /* its base URL, "" when none answered */
	long status;       /* its HTTP status, 0 when none answered */
	const char *body;  /* its answer (NUL-terminated, len bytes) */
	size_t len;
	/* !ok: each peer tried and what it said, "URL: what; URL: what" */
	const char *error;
};

/* ctx is the request's copy of the caller's context. */
typedef void (*am_done_fn)(void *ctx, const struct am_answer *a);

struct amclient;

/* x must outlive the client; o's strings are copied. NULL with err when
 * there is no peer or memory. */
struct amclient *am_new(struct xfer *x, const struct am_opts *o, char *err,
			size_t errlen);
/* Call after xfer_free (or with nothing in flight): frees every request
 * left, without calling its function. */
void am_free(struct amclient *am);

size_t am_npeers(const struct amclient *am);
const char *am_peer_url(const struct amclient *am, size_t i);
int am_inflight(const struct amclient *am);

/* Starts method (GET, POST, DELETE) on path ("/api/v2/silences") with
 * body (JSON or NULL; copied). ctx (ctxlen bytes, at most AM_MAX_CTX) is
 * copied and handed to fn. 0 started; -1 with err (too many in flight,
 * body too large, out of memory): fn is never called. */
int am_request(struct amclient *am, const char *method, const char *path,
	       const char *body, const void *ctx, size_t ctxlen,
	       am_done_fn fn, char *err, size_t errlen);
/* The same, to peer i only. */
int am_request_peer(struct amclient *am, size_t peer, const char *method,
		    const char *path, const char *body, const void *ctx,
		    size_t ctxlen, am_done_fn fn, char *err, size_t errlen);

/* RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z") of a wall
 * time in ms, as Alertmanager reads and writes it. */
void am_time(char *dst, size_t size, int64_t wall_ms);
/* The wall ms of an RFC 3339 time; -1 when it is not one. */
int64_t am_time_parse(const char *s);

#endif
