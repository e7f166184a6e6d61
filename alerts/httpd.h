/*
 * httpd.h - the HTTP listener: libmicrohttpd without threads, driven by
 * the daemon's own poll loop.
 *
 * A leaf: it knows nothing about alerts. It parses HTTP, enforces the
 * limits (connections, header and body size, idle timeout) and the bearer
 * token, answers what it rejects itself (400, 401, 405, 411, 413, and
 * libmicrohttpd's own 400 and 431) and hands every admitted, complete
 * request to the caller's callback exactly once. The request is then
 * parked (the connection suspended) until the caller answers it with
 * httpd_respond(), at once from inside the callback or later, after its
 * commit.
 *
 * Loop contract (one thread, nothing blocks):
 *   n = httpd_pollfds(h, fds, max);          one fd (POLLIN)
 *   timeout = httpd_next_deadline(h, now);   mono ms, INT64_MAX = none
 *   poll(...);
 *   httpd_handle(h, fds, n, now);            runs libmicrohttpd if due
 * httpd_respond() from outside the callback makes httpd_next_deadline()
 * return now (libmicrohttpd's resume does not make its fd readable), so
 * the loop must ask for the deadline after the turn's answers; the next
 * httpd_handle() then sends them. Call nothing of this from inside the
 * callback but httpd_respond().
 *
 * It never logs; libmicrohttpd's own messages are only counted.
 */
#ifndef OPSBOT_HTTPD_H
#define OPSBOT_HTTPD_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* Zero limits take the defaults in brackets. */
struct httpd_opts {
	const char *listen;   /* "A.B.C.D:PORT", "[IPv6]:PORT" or
				 "localhost:PORT"; port 0 = any (tests) */
	const char *token;    /* bearer token POSTs must carry; NULL or ""
				 = none (then listen must be loopback) */
	size_t max_body;      /* bytes; over it: 413 [1 MiB] */
	size_t max_header;    /* bytes of request line + headers, about;
				 over it: 431 [16 KiB] */
	unsigned max_conns;   /* concurrent connections; more wait in the
				 listen backlog (as long as this) [64] */
	unsigned timeout_s;   /* a connection idle this long (mid-request
				 or between requests) is closed [10] */
	unsigned request_timeout_s; /* a body still arriving this long after
				 its headers: the connection is closed, so
				 a trickling client cannot hold a slot [30] */
};

struct httpd;
/* One admitted request waiting for its answer; owned by httpd, valid until
 * httpd_respond() (or httpd_close()). */
struct httpd_req;

/* Called once per admitted request. method is "GET" or "POST"; path has no
 * query string; body is a NUL-terminated copy of the body (may be "",
 * len excludes the NUL), valid until httpd_respond(). */
typedef void (*httpd_request_fn)(void *arg, struct httpd_req *req,
				 const char *method, const char *path,
				 const char *body, size_t len);

struct httpd_stats {
	uint64_t requests;       /* handed to the callback */
	uint64_t rejected_auth;  /* 401 */
	uint64_t rejected_size;  /* 413 */
	uint64_t rejected_other; /* 400 (ambiguous length), 405, 411 */
	uint64_t mhd_errors;     /* messages libmicrohttpd reported (e.g.
				    malformed requests it answered 400) */
	unsigned conns;          /* open connections */
	unsigned parked;         /* requests waiting for httpd_respond() */
};

/* Binds and starts listening. Refuses a listen address that is not
 * loopback when no token is set. Returns 0 and *out, or -1 with the reason
 * in err ("http.listen: ..."); never echoes the token. */
int httpd_open(struct httpd **out, const struct httpd_opts *o,
	       httpd_request_fn fn, void *arg, char *err, size_t errlen);
/* Answers every parked request 503, closes every connection and the
 * socket, frees everything. NULL is ignored. */
void httpd_close(struct httpd *h);

/* Fills at most max pollfds (one: libmicrohttpd's epoll fd, POLLIN);
 * returns how many. */
size_t httpd_pollfds(struct httpd *h, struct pollfd *fds, size_t max);
/* Runs libmicrohttpd when fds (as filled by httpd_pollfds) are ready or
 * its deadline has come: accepts, reads, calls the callback, writes,
 * closes idle connections. now is monotonic ms. */
void httpd_handle(struct httpd *h, const struct pollfd *fds, size_t n,
		  int64_t now);
/* When httpd_handle must run at the latest (mono ms): now when work is
 * pending, INT64_MAX when only the fd matters. */
int64_t httpd_next_deadline(struct httpd *h, int64_t now);

/* Answers req with status, content_type (NULL = "application/json") and
 * body (NULL = empty); copies both. May be called inside the callback or
 * later; req is gone afterwards. On out of memory the client gets a
 * 500 instead. */
void httpd_respond(struct httpd_req *req, int status,
		   const char *content_type, const char *body);

/* The bound port (useful with port 0). */
int httpd_port(const struct httpd *h);
void httpd_get_stats(const struct httpd *h, struct httpd_stats *s);

#endif
