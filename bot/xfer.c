/*
 * xfer.c - HTTP requests on one libcurl multi handle. See xfer.h.
 */
#include "bot/xfer.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bot/proxy.h"
#include "bot/util.h"

struct call {
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct buf resp;
	int truncated;
	char errbuf[CURL_ERROR_SIZE];
	xfer_done_fn fn;
	void *arg;
	LIST_ENTRY(call) link;
};

struct xfer {
	CURLM *multi;
	LIST_HEAD(, call) calls;
};

struct xfer *xfer_new(char *err, size_t errlen)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	x->multi = curl_multi_init();
	if (x->multi == NULL) {
		err_set(err, errlen, "curl_multi_init failed");
		free(x);
		return NULL;
	}
	LIST_INIT(&x->calls);
	/* A handful of connections per host is plenty for ~30 requests/s:
	 * keep them alive and reuse them. */
	curl_multi_setopt(x->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, 16L);
	return x;
}

static void call_free(struct call *c)
{
	curl_slist_free_all(c->headers);
	free(c->body);
	buf_free(&c->resp);
	free(c);
}

static void call_unlink(struct xfer *x, struct call *c)
{
	LIST_REMOVE(c, link);
	curl_multi_remove_handle(x->multi, c->easy);
	curl_easy_cleanup(c->easy);
}

void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	while (!LIST_EMPTY(&x->calls)) {
		struct call *c = LIST_FIRST(&x->calls);

		call_unlink(x, c);
		call_free(c);
	}
	curl_multi_cleanup(x->multi);
	free(x);
}

/* Caps the response: a broken proxy must not make us buffer gigabytes. */
static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t len = size * n;

	if (buf_append(&c->resp, p, len) != 0) {
		c->truncated = 1;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	return len;
}

static int add_header(struct call *c, const char *name, const char *value)
{
	char line[1024];
	struct curl_slist *l;

	if (snprintf(line, sizeof(line), "%s: %s", name, value) >=
	    (int)sizeof(line))
		return -1;
	l = curl_slist_append(c->headers, line);
	explicit_bzero(line, sizeof(line)); /* may be a bearer token */
	if (l == NULL)
		return -1;
	c->headers = l;
	return 0;
}

static int call_setup(struct call *c, const struct xfer_req *r)
{
	CURL *e = c->easy;
	const char *method = r->method ? r->method : "POST";

	if (c->body && add_header(c, "Content-Type", r->content_type ?
				  r->content_type : "application/json") != 0)
		return -1;
	if (r->auth && add_header(c, "Authorization", r->auth) != 0)
		return -1;
	/* No "Expect: 100-continue" round trip for small bodies. */
	if ((c->headers = curl_slist_append(c->headers, "Expect:")) == NULL)
		return -1;
	if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK)
		return -1;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
				 c->body ? (long)strlen(c->body) : 0L);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (r->userpwd)
		curl_easy_setopt(e, CURLOPT_USERPWD, r->userpwd);
	if (proxy_apply(e, r->proxy, r->no_proxy) != 0)
		return -1;
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, r->timeout);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "opsbot/" OPSBOT_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
#ifdef OPSBOT_DEBUG_CURL
	/* Debug builds only: verbose output shows URLs, and so the token. */
	curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
#endif
	return 0;
}

int xfer_start(struct xfer *x, struct xfer_req *req, xfer_done_fn fn,
	       void *arg)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		free(req->body);
		req->body = NULL;
		return -1;
	}
	c->body = req->body;
	req->body = NULL;
	c->fn = fn;
	c->arg = arg;
	buf_init(&c->resp, req->max_response);
	c->easy = curl_easy_init();
	if (c->easy == NULL || call_setup(c, req) != 0 ||
	    curl_multi_add_handle(x->multi, c->easy) != CURLM_OK) {
		if (c->easy)
			curl_easy_cleanup(c->easy);
		call_free(c);
		return -1;
	}
	LIST_INSERT_HEAD(&x->calls, c, link);
	return 0;
}

void *xfer_multi(struct xfer *x)
{
	return x->multi;
}

static void call_finish(struct xfer *x, struct call *c, CURLcode rc)
{
	struct xfer_result r = { 0 };

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.http_status);
	r.curl_code = (int)rc;
	r.truncated = c->truncated;
	r.error = c->truncated ? "response larger than the limit" :
		  c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	r.body = c->resp.data ? c->resp.data : "";
	r.len = c->resp.len;
	call_unlink(x, c);
	c->fn(c->arg, &r);
	call_free(c);
}

int xfer_harvest(struct xfer *x)
{
	CURLMsg *m;
	int running, left, done = 0;

	curl_multi_perform(x->multi, &running);
	while ((m = curl_multi_info_read(x->multi, &left)) != NULL) {
		struct call *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c == NULL)
			continue;
		call_finish(x, c, m->data.result);
		done++;
	}
	return done;
}
