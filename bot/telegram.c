/*
 * telegram.c - Bot API calls over libcurl's multi interface. See
 * telegram.h. One struct call per transfer, found again through
 * CURLOPT_PRIVATE; every reply goes through tg_classify().
 */
#include "telegram.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "util.h"

struct call {
	struct tg *tg;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct buf resp;
	int truncated;
	char errbuf[CURL_ERROR_SIZE];
	tg_done_fn fn;
	void *arg;
	struct call *next, *prev;
};

struct tg {
	CURLM *multi;
	char base[1024]; /* <api_url>/bot<token>/ : never logged */
	long connect_timeout;
	long request_timeout;
	size_t max_response;
	char proxy[512];     /* may hold a password: never logged */
	char no_proxy[512];
	struct call *calls;
	int inflight;
};

struct tg *tg_new(const struct tg_opts *o, char *err, size_t errlen)
{
	struct tg *tg;
	int n;

	tg = calloc(1, sizeof(*tg));
	if (tg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = snprintf(tg->base, sizeof(tg->base), "%s/bot%s/", o->api_url,
		     o->token);
	if (n < 0 || (size_t)n >= sizeof(tg->base)) {
		snprintf(err, errlen, "telegram.api_url is too long");
		free(tg);
		return NULL;
	}
	tg->multi = curl_multi_init();
	if (tg->multi == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		free(tg);
		return NULL;
	}
	/* A handful of connections is plenty for ~30 requests/s: keep them
	 * alive and reuse them. */
	curl_multi_setopt(tg->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	curl_multi_setopt(tg->multi, CURLMOPT_MAXCONNECTS, 8L);
	tg->connect_timeout = o->connect_timeout;
	tg->request_timeout = o->request_timeout;
	tg->max_response = o->max_response;
	str_copy(tg->proxy, o->proxy ? o->proxy : "", sizeof(tg->proxy));
	str_copy(tg->no_proxy, o->no_proxy ? o->no_proxy : "",
		 sizeof(tg->no_proxy));
	return tg;
}

static void call_free(struct call *c)
{
	curl_slist_free_all(c->headers);
	free(c->body);
	buf_free(&c->resp);
	free(c);
}

static void call_unlink(struct tg *tg, struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		tg->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	curl_multi_remove_handle(tg->multi, c->easy);
	curl_easy_cleanup(c->easy);
	tg->inflight--;
}

void tg_free(struct tg *tg)
{
	if (tg == NULL)
		return;
	while (tg->calls) {
		struct call *c = tg->calls;

		call_unlink(tg, c);
		call_free(c);
	}
	curl_multi_cleanup(tg->multi);
	explicit_bzero(tg->base, sizeof(tg->base));
	explicit_bzero(tg->proxy, sizeof(tg->proxy));
	free(tg);
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

static int call_setup(struct tg *tg, struct call *c, const char *method,
		      long timeout)
{
	char url[1200];
	CURL *e = c->easy;

	snprintf(url, sizeof(url), "%s%s", tg->base, method);
	c->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->headers == NULL)
		return -1;
	curl_easy_setopt(e, CURLOPT_URL, url);
	explicit_bzero(url, sizeof(url));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, tg->connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "opsbot/" OPSBOT_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (proxy_apply(e, tg->proxy, tg->no_proxy) != 0)
		return -1;
#ifdef OPSBOT_DEBUG_CURL
	/* Debug builds only: verbose output shows the URL and the token. */
	curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
#endif
	return 0;
}

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct call *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		free(body);
		return -1;
	}
	c->tg = tg;
	c->body = body;
	c->fn = fn;
	c->arg = arg;
	buf_init(&c->resp, tg->max_response);
	c->easy = curl_easy_init();
	if (c->easy == NULL || body == NULL ||
	    call_setup(tg, c, method, timeout ? timeout : tg->request_timeout) ||
	    curl_multi_add_handle(tg->multi, c->easy) != CURLM_OK) {
		if (c->easy)
			curl_easy_cleanup(c->easy);
		call_free(c);
		return -1;
	}
	c->next = tg->calls;
	if (tg->calls)
		tg->calls->prev = c;
	tg->calls = c;
	tg->inflight++;
	return 0;
}

void *tg_multi(struct tg *tg)
{
	return tg->multi;
}

int tg_inflight(const struct tg *tg)
{
	return tg->inflight;
}

static void call_finish(struct tg *tg, struct call *c, CURLcode rc)
{
	struct tg_reply r;
	long status = 0;
	const char *cerr = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (c->truncated)
		cerr = "response larger than the limit";
	tg_classify(&r, rc == CURLE_OK ? 0 : (int)rc, cerr, status,
		    c->resp.data ? c->resp.data : "", c->resp.len);
	call_unlink(tg, c);
	c->fn(c->arg, &r);
	tg_reply_free(&r);
	call_free(c);
}

int tg_harvest(struct tg *tg)
{
	CURLMsg *m;
	int running, left, done = 0;

	curl_multi_perform(tg->multi, &running);
	while ((m = curl_multi_info_read(tg->multi, &left)) != NULL) {
		struct call *c = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c == NULL)
			continue;
		call_finish(tg, c, m->data.result);
		done++;
	}
	return done;
}
