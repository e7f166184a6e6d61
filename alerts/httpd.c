/*
 * httpd.c - the HTTP listener on libmicrohttpd (MHD) in "external epoll"
 * mode: no MHD threads; the daemon's loop polls MHD's epoll fd and calls
 * MHD_run() when it is readable or MHD's timeout is due. See httpd.h.
 *
 * A request's life: MHD calls httpd_access() once when the headers are in
 * (the "first call": method, token and declared size are checked there and
 * a rejection is queued at once, so MHD never reads that body), then once
 * per piece of body (copied, up to max_body), then once more when the
 * request is complete: the callback gets it, and unless it answered
 * already the connection is suspended ("parked"). httpd_respond() stores
 * the answer and resumes the connection; MHD then calls httpd_access()
 * again, which queues the stored answer.
 *
 * Never logs: MHD's messages go to a counter (and, while starting, to the
 * caller's error buffer, where no client data can be involved).
 */
#include "alerts/httpd.h"
#include "alerts/httpaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEF_MAX_BODY   (1024 * 1024)
#define DEF_MAX_HEADER (16 * 1024)
#define DEF_MAX_CONNS  64
#define DEF_TIMEOUT_S  10
#define DEF_REQUEST_TIMEOUT_S 30
#define MAX_CONNS_CAP  65536
/* MHD_run passes made by httpd_close() to send the 503s it queued. */
#define CLOSE_FLUSH_RUNS 4
/* MHD_run passes per httpd_handle() while MHD says it has more to do at
 * once (timeout 0): with edge-triggered epoll a connection stays on MHD's
 * ready list until a read returns EAGAIN, which takes a pass or two after
 * each answer. Each would otherwise cost a whole loop turn. */
#define HANDLE_RUNS_MAX 4

enum req_state {
	REQ_READING,   /* headers admitted; body arriving */
	REQ_DRAINING,  /* body over max_body; discarding until the end */
	REQ_PARKED,    /* handed to the callback; waiting for an answer */
	REQ_ANSWERED,  /* answer stored; to be queued on MHD's next call */
	REQ_DONE,      /* a response is queued */
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	struct httpd_req *prev, *next; /* in h->parked while REQ_PARKED */
	enum req_state state;
	char *body;       /* NUL-terminated; len bytes */
	size_t len, cap;
	size_t drained;   /* bytes discarded in REQ_DRAINING */
	int64_t started;  /* mono ms the headers were in */
	/* the stored answer (REQ_ANSWERED) */
	int status;
	char *ctype, *resp;
};

struct httpd {
	struct MHD_Daemon *d;
	int epfd;
	int port;
	char *token;      /* NULL = none; zeroed before free */
	size_t toklen;
	size_t max_body;
	int64_t request_ms;       /* body time limit */
	int64_t now;              /* the clock of the last httpd_handle */
	httpd_request_fn fn;
	void *arg;
	struct httpd_req *parked; /* doubly linked, unordered */
	struct httpd_req *in_cb;  /* the request the callback is handling */
	int kick;                 /* a resume is waiting for MHD_run */
	int64_t due;              /* MHD's own deadline, mono ms */
	char *start_err;          /* MHD messages go here during open */
	size_t start_errlen;
	struct httpd_stats st;
};

/* ---- answers ------------------------------------------------------------ */

/* Queues status/ctype/body on c; extra headers by status. 0 on success. */
static int httpd_queue(struct MHD_Connection *c, int status,
		       const char *ctype, const char *body, int close)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return -1;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	else if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, POST");
	/* A body we refused to read must not be taken for the next
	 * request: close after the answer. */
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	rc = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rc == MHD_YES ? 0 : -1;
}

/* The leaf's own refusal: {"ok":false,"error":what} and close. */
static enum MHD_Result httpd_reject(struct httpd_req *r, int status,
				    const char *what)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}", what);
	if (status == MHD_HTTP_UNAUTHORIZED)
		r->h->st.rejected_auth++;
	else if (status == MHD_HTTP_CONTENT_TOO_LARGE)
		r->h->st.rejected_size++;
	else
		r->h->st.rejected_other++;
	r->state = REQ_DONE;
	return httpd_queue(r->conn, status, "application/json", body, 1) == 0 ?
	       MHD_YES : MHD_NO;
}

/* Queues the answer httpd_respond() stored. */
static enum MHD_Result httpd_send_answer(struct httpd_req *r)
{
	int rc;

	r->state = REQ_DONE;
	if (r->resp == NULL || r->ctype == NULL)
		rc = httpd_queue(r->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				 "application/json", "{\"ok\":false,\"error\":"
				 "\"httpd: out of memory\"}", 1);
	else
		rc = httpd_queue(r->conn, r->status, r->ctype, r->resp, 0);
	free(r->resp);
	free(r->ctype);
	r->resp = r->ctype = NULL;
	return rc == 0 ? MHD_YES : MHD_NO;
}

/* ---- admission ---------------------------------------------------------- */

/* Constant time in the token's content: every byte of the token is
 * compared whatever the input, and the loop length depends only on the
 * token's length. */
static int httpd_token_equal(const char *want, size_t wlen, const char *got)
{
	size_t glen = strlen(got);
	unsigned diff = wlen != glen;

	for (size_t i = 0; i < wlen; i++)
		diff |= (unsigned char)want[i] ^
			(unsigned char)(i < glen ? got[i] : 0);
	return diff == 0;
}

/* 1 if the request carries "Authorization: Bearer <token>". */
static int httpd_authorized(struct httpd *h, struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return 0;
	for (v += 7; *v == ' '; v++)
		;
	return httpd_token_equal(h->token, h->toklen, v);
}

/* 1 if Transfer-Encoding says chunked (MHD decodes it). */
static int httpd_chunked(struct MHD_Connection *c)
{
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_TRANSFER_ENCODING);

	return te != NULL && strcasestr(te, "chunked") != NULL;
}

static enum MHD_Result httpd_count_cl(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value)
{
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

/* 1 if the body's length is ambiguous: two Content-Lengths (MHD would
 * take the first), or one with chunked encoding. */
static int httpd_ambiguous(struct MHD_Connection *c)
{
	int n = 0;

	MHD_get_connection_values(c, MHD_HEADER_KIND, httpd_count_cl, &n);
	return n > 1 || (n == 1 && httpd_chunked(c));
}

/* The first call: headers are in, no body read yet. Rejections queued now
 * make MHD skip the body (and close). */
static enum MHD_Result httpd_first(struct httpd *h, struct MHD_Connection *c,
				   const char *method, void **con_cls)
{
	struct httpd_req *r;
	const char *cl;
	int post;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MHD_NO;
	r->h = h;
	r->conn = c;
	r->state = REQ_READING;
	r->started = h->now;
	*con_cls = r; /* freed by httpd_completed() */

	post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0)
		return httpd_reject(r, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "method: not allowed (GET or POST)");
	if (post && h->token != NULL) {
		if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_AUTHORIZATION) == NULL)
			return httpd_reject(r, MHD_HTTP_UNAUTHORIZED,
					    "auth: bearer token required");
		if (!httpd_authorized(h, c))
			return httpd_reject(r, MHD_HTTP_UNAUTHORIZED,
					    "auth: wrong bearer token");
	}
	if (httpd_ambiguous(c))
		return httpd_reject(r, MHD_HTTP_BAD_REQUEST, "length: more than "
				    "one Content-Length, or one with chunked "
				    "encoding");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		/* MHD has refused a Content-Length that is not a number. */
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || n > h->max_body)
			return httpd_reject(r, MHD_HTTP_CONTENT_TOO_LARGE,
					    "size: body over the limit");
		/* Room for all of it at once. */
		if ((r->body = malloc((size_t)n + 1)) == NULL)
			return MHD_NO;
		r->cap = (size_t)n + 1;
	} else if (post && !httpd_chunked(c)) {
		return httpd_reject(r, MHD_HTTP_LENGTH_REQUIRED,
				    "length: Content-Length or chunked "
				    "encoding required");
	}
	return MHD_YES;
}

/* A piece of body: copied while it fits, discarded after. */
static enum MHD_Result httpd_take(struct httpd_req *r, const char *data,
				  size_t *size)
{
	size_t n = *size, cap;
	char *p;

	*size = 0;
	if (r->h->now - r->started > r->h->request_ms) {
		r->h->st.rejected_other++;
		return MHD_NO; /* trickling: close, no answer */
	}
	if (r->state == REQ_DRAINING) {
		/* A sender that keeps going past twice the limit is not
		 * worth an answer. */
		r->drained += n;
		return r->drained > r->h->max_body ? MHD_NO : MHD_YES;
	}
	if (n > r->h->max_body - r->len) {
		/* Only chunked bodies get here (Content-Length was checked):
		 * MHD cannot answer in the middle of one, so the rest is
		 * read and dropped, and the 413 goes out at its end. */
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		r->state = REQ_DRAINING;
		r->drained = n;
		return MHD_YES;
	}
	if (r->len + n + 1 > r->cap) {
		cap = r->cap ? r->cap : 1024;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > r->h->max_body + 1)
			cap = r->h->max_body + 1;
		if ((p = realloc(r->body, cap)) == NULL)
			return MHD_NO;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return MHD_YES;
}

static void httpd_park(struct httpd *h, struct httpd_req *r)
{
	r->prev = NULL;
	r->next = h->parked;
	if (h->parked != NULL)
		h->parked->prev = r;
	h->parked = r;
	h->st.parked++;
}

static void httpd_unpark(struct httpd *h, struct httpd_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		h->parked = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	h->st.parked--;
}

/* The request is complete: hand it out, then park it unless answered. */
static enum MHD_Result httpd_dispatch(struct httpd *h, struct httpd_req *r,
				      const char *url, const char *method)
{
	if (r->body == NULL) {
		if ((r->body = malloc(1)) == NULL)
			return MHD_NO;
		r->cap = 1;
	}
	r->body[r->len] = '\0';
	r->state = REQ_PARKED;
	h->st.requests++;
	h->in_cb = r;
	h->fn(h->arg, r, method, url, r->body, r->len);
	h->in_cb = NULL;
	if (r->state == REQ_ANSWERED)
		return httpd_send_answer(r);
	/* Suspended connections are not polled and do not time out. */
	MHD_suspend_connection(r->conn);
	httpd_park(h, r);
	return MHD_YES;
}

static enum MHD_Result httpd_access(void *cls, struct MHD_Connection *c,
				    const char *url, const char *method,
				    const char *version,
				    const char *upload_data,
				    size_t *upload_data_size, void **con_cls)
{
	struct httpd *h = cls;
	struct httpd_req *r = *con_cls;

	if (r == NULL)
		return httpd_first(h, c, method, con_cls);
	switch (r->state) {
	case REQ_READING:
	case REQ_DRAINING:
		if (*upload_data_size > 0)
			return httpd_take(r, upload_data, upload_data_size);
		if (r->state == REQ_DRAINING)
			return httpd_reject(r, MHD_HTTP_CONTENT_TOO_LARGE,
					    "size: body over the limit");
		return httpd_dispatch(h, r, url, method);
	case REQ_ANSWERED:
		return httpd_send_answer(r);
	case REQ_PARKED:
	case REQ_DONE:
		break;
	}
	*upload_data_size = 0;
	return MHD_YES;
}

/* ---- MHD's notifications ------------------------------------------------ */

static void httpd_completed(void *cls, struct MHD_Connection *c,
			    void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct httpd_req *r = *con_cls;

	if (r == NULL)
		return;
	/* Parked requests are answered before MHD may drop them; this is
	 * for safety only. */
	if (r->state == REQ_PARKED)
		httpd_unpark(h, r);
	free(r->body);
	free(r->resp);
	free(r->ctype);
	free(r);
	*con_cls = NULL;
}

static void httpd_connection(void *cls, struct MHD_Connection *c,
			     void **socket_context,
			     enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		h->st.conns++;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (h->st.conns > 0)
			h->st.conns--;
		/* At max_conns MHD takes the listening socket out of its
		 * epoll set and puts it back only at the start of a later
		 * MHD_run, which nothing would trigger (no fd ready, no
		 * timeout): waiting clients would hang. So: one more run. */
		h->kick = 1;
	}
}

static void httpd_logger(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	size_t n;

	h->st.mhd_errors++;
	if (h->start_err == NULL || h->start_errlen == 0)
		return;
	vsnprintf(h->start_err, h->start_errlen, fmt, ap);
	n = strlen(h->start_err);
	while (n > 0 && (h->start_err[n - 1] == '\n' ||
			 h->start_err[n - 1] == '.'))
		h->start_err[--n] = '\0';
}

/* ---- open / close -------------------------------------------------------- */

/* A non-blocking listening socket bound to a; -1 with err. */
static int httpd_bind(const struct httpaddr *a, const char *listen_str,
		      unsigned backlog, int *port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1;

	fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "http.listen: %s: socket: %s",
			 listen_str, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) < 0 ||
	    listen(fd, (int)backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(err, errlen, "http.listen: %s: %s", listen_str,
			 strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ?
		      ((struct sockaddr_in6 *)&ss)->sin6_port :
		      ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int httpd_start(struct httpd *h, const struct httpd_opts *o,
		       int family, int fd, char *err, size_t errlen)
{
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	char why[256] = "";

	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->start_err = why;
	h->start_errlen = sizeof(why);
	/* The pool holds the read buffer (request line, headers, pieces of
	 * body) and the response headers: about half of it goes to the
	 * request's headers, hence twice max_header. */
	/* The logger must come first, or MHD prints to stderr what it
	 * finds before it (it says so, on stderr). */
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, httpd_access, h,
		MHD_OPTION_EXTERNAL_LOGGER, httpd_logger, h,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, o->max_conns,
		MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, 2 * o->max_header,
		MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, httpd_connection, h,
		MHD_OPTION_END);
	h->start_err = NULL;
	if (h->d == NULL) {
		snprintf(err, errlen, "http.listen: %s: cannot start the HTTP "
			 "server%s%s", o->listen, *why ? ": " : "", why);
		return -1;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		snprintf(err, errlen, "http.listen: %s: no epoll fd from "
			 "libmicrohttpd", o->listen);
		return -1;
	}
	h->epfd = info->epoll_fd;
	return 0;
}

/* o with every zero limit replaced by its default. */
static void httpd_defaults(struct httpd_opts *o)
{
	if (o->max_body == 0)
		o->max_body = DEF_MAX_BODY;
	if (o->max_header == 0)
		o->max_header = DEF_MAX_HEADER;
	if (o->max_conns == 0)
		o->max_conns = DEF_MAX_CONNS;
	if (o->max_conns > MAX_CONNS_CAP)
		o->max_conns = MAX_CONNS_CAP;
	if (o->timeout_s == 0)
		o->timeout_s = DEF_TIMEOUT_S;
	if (o->request_timeout_s == 0)
		o->request_timeout_s = DEF_REQUEST_TIMEOUT_S;
}

int httpd_open(struct httpd **out, const struct httpd_opts *opts,
	       httpd_request_fn fn, void *arg, char *err, size_t errlen)
{
	struct httpd_opts eff = *opts, *o = &eff;
	struct httpaddr a;
	struct httpd *h;
	char why[256];
	int fd;

	*out = NULL;
	httpd_defaults(o);
	if (httpaddr_parse(o->listen, &a, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "http.listen: %s", why);
		return -1;
	}
	if ((o->token == NULL || *o->token == '\0') && !a.loopback) {
		snprintf(err, errlen, "http.listen: %s is not a loopback "
			 "address; set http.token_file", o->listen);
		return -1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "http: out of memory");
		return -1;
	}
	h->epfd = -1;
	h->fn = fn;
	h->arg = arg;
	h->max_body = o->max_body;
	h->request_ms = (int64_t)o->request_timeout_s * 1000;
	h->due = INT64_MAX;
	if (o->token != NULL && *o->token != '\0') {
		h->toklen = strlen(o->token);
		if ((h->token = strdup(o->token)) == NULL) {
			snprintf(err, errlen, "http: out of memory");
			free(h);
			return -1;
		}
	}
	/* A backlog as long as the connection limit: at the limit MHD
	 * stops accepting, and clients wait there. */
	fd = httpd_bind(&a, o->listen, o->max_conns, &h->port, err, errlen);
	if (fd < 0) {
		httpd_close(h);
		return -1;
	}
	if (httpd_start(h, o, a.family, fd, err, errlen) < 0) {
		/* Whether a failed MHD_start_daemon closed the socket it was
		 * given depends on where it failed: close it if still open
		 * (one thread, so the number cannot have been reused). */
		if (h->d == NULL && fcntl(fd, F_GETFD) != -1)
			close(fd);
		httpd_close(h);
		return -1;
	}
	*out = h;
	return 0;
}

void httpd_close(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL) {
		/* MHD must not be stopped with suspended connections. */
		while (h->parked != NULL)
			httpd_respond(h->parked, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "application/json", "{\"ok\":false,"
				      "\"error\":\"shutting down\"}");
		/* Best effort, never blocking: send what fits now. */
		for (int i = 0; i < CLOSE_FLUSH_RUNS; i++)
			MHD_run(h->d);
		MHD_stop_daemon(h->d);
	}
	if (h->token != NULL) {
		explicit_bzero(h->token, h->toklen);
		free(h->token);
	}
	free(h);
}

/* ---- the loop ------------------------------------------------------------ */

size_t httpd_pollfds(struct httpd *h, struct pollfd *fds, size_t max)
{
	if (max == 0)
		return 0;
	fds[0].fd = h->epfd;
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	return 1;
}

/* MHD's deadline as mono ms from now. */
static int64_t httpd_mhd_due(struct httpd *h, int64_t now)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(h->d, &ms) != MHD_YES)
		return INT64_MAX;
	if (ms > (MHD_UNSIGNED_LONG_LONG)(INT64_MAX - now))
		return INT64_MAX;
	return now + (int64_t)ms;
}

void httpd_handle(struct httpd *h, const struct pollfd *fds, size_t n,
		  int64_t now)
{
	int ready = 0;

	for (size_t i = 0; i < n; i++)
		if (fds[i].fd == h->epfd && fds[i].revents != 0)
			ready = 1;
	if (!ready && !h->kick && now < h->due)
		return;
	h->kick = 0;
	h->now = now;
	for (int i = 0; i < HANDLE_RUNS_MAX; i++) {
		MHD_run(h->d);
		h->due = httpd_mhd_due(h, now);
		/* A callback's answer needs the commit first: stop. */
		if (h->due > now || h->kick)
			break;
	}
}

int64_t httpd_next_deadline(struct httpd *h, int64_t now)
{
	if (h->kick)
		return now;
	h->due = httpd_mhd_due(h, now);
	return h->due;
}

void httpd_respond(struct httpd_req *r, int status, const char *content_type,
		   const char *body)
{
	struct httpd *h = r->h;

	if (r->state != REQ_PARKED)
		return; /* answered twice: the first answer stands */
	r->status = status;
	r->ctype = strdup(content_type ? content_type : "application/json");
	r->resp = strdup(body ? body : "");
	r->state = REQ_ANSWERED;
	if (h->in_cb == r)
		return; /* httpd_dispatch() queues it when the callback returns */
	httpd_unpark(h, r);
	/* In external epoll mode MHD's resume only flags the connection:
	 * its epoll fd does not become readable, and the answer would wait
	 * for unrelated activity. The kick makes the deadline now; one
	 * MHD_run then resumes it, calls httpd_access and sends. */
	MHD_resume_connection(r->conn);
	h->kick = 1;
}

int httpd_port(const struct httpd *h)
{
	return h->port;
}

void httpd_get_stats(const struct httpd *h, struct httpd_stats *s)
{
	*s = h->st;
}
