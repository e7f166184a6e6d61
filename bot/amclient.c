/*
 * amclient.c - Alertmanager API v2 requests with failover over the
 * daemon's transfers. See amclient.h.
 */
#include "bot/amclient.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "bot/util.h"
#include "bot/xfer.h"

#define AM_MAX_PATH 512
#define AM_SNIPPET 160 /* bytes of a refusing peer's answer quoted */

struct am_req {
	struct amclient *am;
	char method[8];
	char path[AM_MAX_PATH];
	char *body;          /* kept for the next peer; NULL none */
	int only;            /* 1: this peer only */
	size_t peer;         /* the peer being tried */
	am_done_fn fn;
	char err[AM_MAX_ERROR];
	size_t errpos;
	LIST_ENTRY(am_req) link;
	size_t ctxlen;
	max_align_t ctx[];   /* the caller's context */
};

struct amclient {
	struct xfer *x;
	char *peers[AM_MAX_PEERS];
	size_t npeers;
	char auth[300];       /* "Bearer ..." */
	char userpwd[512];
	long connect_timeout, timeout;
	size_t max_response;
	int inflight;
	LIST_HEAD(, am_req) reqs;
};

struct amclient *am_new(struct xfer *x, const struct am_opts *o, char *err,
			size_t errlen)
{
	struct amclient *am;

	if (o->npeers == 0 || o->npeers > AM_MAX_PEERS) {
		err_set(err, errlen, "1 to %d Alertmanager URLs needed",
			AM_MAX_PEERS);
		return NULL;
	}
	if ((am = calloc(1, sizeof(*am))) == NULL)
		goto oom;
	am->x = x;
	LIST_INIT(&am->reqs);
	for (size_t i = 0; i < o->npeers; i++, am->npeers++) {
		if (strlen(o->peers[i]) >= AM_MAX_URL) {
			am_free(am);
			err_set(err, errlen, "Alertmanager URL too long");
			return NULL;
		}
		if ((am->peers[i] = strdup(o->peers[i])) == NULL)
			goto oom;
	}
	if (o->token && *o->token &&
	    snprintf(am->auth, sizeof(am->auth), "Bearer %s", o->token) >=
	    (int)sizeof(am->auth)) {
		am_free(am);
		err_set(err, errlen, "bearer token too long");
		return NULL;
	}
	if (o->user && *o->user &&
	    snprintf(am->userpwd, sizeof(am->userpwd), "%s:%s", o->user,
		     o->password ? o->password : "") >=
	    (int)sizeof(am->userpwd)) {
		am_free(am);
		err_set(err, errlen, "user and password too long");
		return NULL;
	}
	am->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 3;
	am->timeout = o->timeout > 0 ? o->timeout : 10;
	am->max_response = o->max_response ? o->max_response : (4 << 20);
	return am;
oom:
	am_free(am);
	err_set(err, errlen, "out of memory");
	return NULL;
}

static void req_free(struct am_req *r)
{
	LIST_REMOVE(r, link);
	r->am->inflight--;
	free(r->body);
	free(r);
}

void am_free(struct amclient *am)
{
	if (am == NULL)
		return;
	while (!LIST_EMPTY(&am->reqs))
		req_free(LIST_FIRST(&am->reqs));
	for (size_t i = 0; i < am->npeers; i++)
		free(am->peers[i]);
	explicit_bzero(am->auth, sizeof(am->auth));
	explicit_bzero(am->userpwd, sizeof(am->userpwd));
	free(am);
}

size_t am_npeers(const struct amclient *am)
{
	return am->npeers;
}

const char *am_peer_url(const struct amclient *am, size_t i)
{
	return i < am->npeers ? am->peers[i] : "";
}

int am_inflight(const struct amclient *am)
{
	return am->inflight;
}

static void on_done(void *arg, const struct xfer_result *res);

/* Starts r on its current peer: 0, or -1 (then r is still the caller's). */
static int req_send(struct am_req *r)
{
	struct amclient *am = r->am;
	char url[AM_MAX_URL + AM_MAX_PATH];
	struct xfer_req xr = {
		.method = r->method,
		.url = url,
		.auth = am->auth[0] ? am->auth : NULL,
		.userpwd = am->userpwd[0] ? am->userpwd : NULL,
		.connect_timeout = am->connect_timeout,
		.timeout = am->timeout,
		.max_response = am->max_response,
	};

	snprintf(url, sizeof(url), "%s%s", am->peers[r->peer], r->path);
	if (r->body && (xr.body = strdup(r->body)) == NULL)
		return -1;
	return xfer_start(am->x, &xr, on_done, r);
}

/* Appends "URL: what" to the request's error text. */
static void req_note(struct am_req *r, const char *fmt, ...)
	ATTR_PRINTF(2, 3);
static void req_note(struct am_req *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->errpos + 8 >= sizeof(r->err))
		return;
	n = snprintf(r->err + r->errpos, sizeof(r->err) - r->errpos, "%s%s: ",
		     r->errpos ? "; " : "", r->am->peers[r->peer]);
	if (n > 0)
		r->errpos += (size_t)n;
	if (r->errpos >= sizeof(r->err)) {
		r->errpos = sizeof(r->err) - 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(r->err + r->errpos, sizeof(r->err) - r->errpos, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->errpos += (size_t)n;
	if (r->errpos >= sizeof(r->err))
		r->errpos = sizeof(r->err) - 1;
}

/* A peer's answer in a few printable bytes. */
static void snippet(char *dst, size_t size, const char *body, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size && n < AM_SNIPPET; i++) {
		unsigned char ch = (unsigned char)body[i];

		dst[n++] = ch == '\n' || ch == '\r' || ch == '\t' ? ' ' :
			   ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* Whether another peer may do better than this answer. */
static int worth_next(long status)
{
	return status == 404 || status == 408 || status == 429 ||
	       status >= 500;
}

static void req_finish(struct am_req *r, const struct xfer_result *res,
		       int ok)
{
	int answered = res != NULL && res->curl_code == 0;
	struct am_answer a = {
		.ok = ok,
		.peer = answered ? (int)r->peer : -1,
		.url = answered ? r->am->peers[r->peer] : "",
		.status = answered ? res->http_status : 0,
		.body = res ? res->body : "",
		.len = res ? res->len : 0,
		.error = r->err,
	};

	r->fn(r->ctx, &a);
	req_free(r);
}

static void on_done(void *arg, const struct xfer_result *res)
{
	struct am_req *r = arg;
	char what[AM_SNIPPET + 1];

	if (res->curl_code == 0 && res->http_status >= 200 &&
	    res->http_status < 300) {
		r->errpos = 0;
		r->err[0] = '\0';
		req_finish(r, res, 1);
		return;
	}
	if (res->curl_code != 0) {
		req_note(r, "%s", res->error);
	} else {
		snippet(what, sizeof(what), res->body, res->len);
		req_note(r, "HTTP %ld%s%s", res->http_status, what[0] ? " " :
			 "", what);
	}
	if (res->curl_code == 0 && !worth_next(res->http_status)) {
		req_finish(r, res, 0);
		return;
	}
	while (!r->only && r->peer + 1 < r->am->npeers) {
		r->peer++;
		if (req_send(r) == 0)
			return;
		req_note(r, "could not start the request");
		res = NULL;
	}
	/* the last peer's answer, if it gave one, goes with the failure */
	req_finish(r, res, 0);
}

static int req_start(struct amclient *am, int only, size_t peer,
		     const char *method, const char *path, const char *body,
		     const void *ctx, size_t ctxlen, am_done_fn fn, char *err,
		     size_t errlen)
{
	struct am_req *r;

	if (am->inflight >= AM_MAX_INFLIGHT)
		return err_set(err, errlen, "too many Alertmanager requests in "
			       "flight (%d)", AM_MAX_INFLIGHT);
	if (ctxlen > AM_MAX_CTX || strlen(path) >= AM_MAX_PATH ||
	    strlen(method) >= sizeof(r->method) || peer >= am->npeers)
		return err_set(err, errlen, "bad request");
	if (body && strlen(body) > AM_MAX_BODY)
		return err_set(err, errlen, "request body over %d bytes",
			       AM_MAX_BODY);
	if ((r = calloc(1, sizeof(*r) + ctxlen)) == NULL)
		return err_set(err, errlen, "out of memory");
	r->am = am;
	str_copy(r->method, method, sizeof(r->method));
	str_copy(r->path, path, sizeof(r->path));
	r->only = only;
	r->peer = peer;
	r->fn = fn;
	r->ctxlen = ctxlen;
	memcpy(r->ctx, ctx, ctxlen);
	if (body && (r->body = strdup(body)) == NULL) {
		free(r);
		return err_set(err, errlen, "out of memory");
	}
	LIST_INSERT_HEAD(&am->reqs, r, link);
	am->inflight++;
	/* A peer whose request cannot even start is skipped like one that
	 * does not answer. */
	for (;;) {
		if (req_send(r) == 0)
			return 0;
		req_note(r, "could not start the request");
		if (only || r->peer + 1 >= am->npeers)
			break;
		r->peer++;
	}
	err_set(err, errlen, "%s", r->err);
	req_free(r);
	return -1;
}

int am_request(struct amclient *am, const char *method, const char *path,
	       const char *body, const void *ctx, size_t ctxlen,
	       am_done_fn fn, char *err, size_t errlen)
{
	return req_start(am, 0, 0, method, path, body, ctx, ctxlen, fn, err,
			 errlen);
}

int am_request_peer(struct amclient *am, size_t peer, const char *method,
		    const char *path, const char *body, const void *ctx,
		    size_t ctxlen, am_done_fn fn, char *err, size_t errlen)
{
	return req_start(am, 1, peer, method, path, body, ctx, ctxlen, fn,
			 err, errlen);
}

void am_time(char *dst, size_t size, int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	char base[32];

	if (wall_ms < 0 || gmtime_r(&t, &tm) == NULL) {
		str_copy(dst, "1970-01-01T00:00:00.000Z", size);
		return;
	}
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(dst, size, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

/* Digits at *p, exactly n of them. -1 if not. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

int64_t am_time_parse(const char *s)
{
	const char *p = s;
	struct tm tm = { 0 };
	int64_t ms = 0, scale = 100, off = 0;
	int y, mo, d, h, mi, se;

	if (s == NULL || (y = digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 1 || d > 31 || (*p != 'T' && *p != 't') ||
	    (p++, (h = digits(&p, 2)) < 0) || h > 23 || *p++ != ':' ||
	    (mi = digits(&p, 2)) < 0 || mi > 59 || *p++ != ':' ||
	    (se = digits(&p, 2)) < 0 || se > 60)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ms += scale * (*p - '0');
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if ((oh = digits(&p, 2)) < 0 || *p++ != ':' ||
		    (om = digits(&p, 2)) < 0)
			return -1;
		off = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return ((int64_t)timegm(&tm) - off) * 1000 + ms;
}
