/*
 * xfer.h - HTTP requests on one libcurl multi handle, shared by every
 * client of the daemon (the Bot API, Alertmanager) and waited on by the
 * event loop.
 *
 * One easy handle per request, found again through CURLOPT_PRIVATE, with
 * connect and total timeouts, a capped response, TLS verification, its
 * own error buffer and, where set, an explicit proxy. Finished transfers
 * are harvested in one place (xfer_harvest), which calls each request's
 * function exactly once. URLs are never exposed or logged: a Bot API URL
 * holds the token.
 */
#ifndef OPSBOT_XFER_H
#define OPSBOT_XFER_H

#include <stddef.h>

struct xfer_req {
	const char *method;       /* "GET", "POST", "DELETE"; NULL = POST */
	const char *url;          /* copied into curl, then wiped */
	const char *content_type; /* for a body; NULL = application/json */
	const char *auth;         /* whole "Authorization:" value or NULL */
	const char *userpwd;      /* basic auth "user:pass" or NULL */
	char *body;               /* taken over (freed by xfer); may be NULL */
	long connect_timeout;     /* s */
	long timeout;             /* s, total */
	size_t max_response;      /* bytes kept; over it the transfer fails */
	const char *proxy;        /* NULL or "": libcurl's environment */
	const char *no_proxy;     /* with a proxy: the only exceptions */
};

struct xfer_result {
	int curl_code;        /* CURLcode; 0 when the transfer completed */
	const char *error;    /* curl's error text when curl_code != 0 */
	long http_status;     /* 0 when no HTTP answer came */
	const char *body;     /* NUL-terminated, len bytes; never NULL */
	size_t len;
	int truncated;        /* the answer was larger than max_response */
};

typedef void (*xfer_done_fn)(void *arg, const struct xfer_result *r);

struct xfer;

/* NULL with a reason in err. */
struct xfer *xfer_new(char *err, size_t errlen);
/* Aborts transfers still in flight without calling their functions. */
void xfer_free(struct xfer *x);

/* Starts req; fn(arg, result) runs from xfer_harvest exactly once,
 * unless xfer_free comes first. 0, or -1 (out of memory, bad option):
 * then fn is never called and req->body has been freed. */
int xfer_start(struct xfer *x, struct xfer_req *req, xfer_done_fn fn,
	       void *arg);

/* The multi handle, for curl_multi_poll in the loop. */
void *xfer_multi(struct xfer *x);
/* Runs curl_multi_perform and calls fn for every finished transfer.
 * Returns how many finished. */
int xfer_harvest(struct xfer *x);

#endif
