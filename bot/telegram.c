/*
 * telegram.c - Bot API calls over the shared transfers. See telegram.h.
 * One struct call per request carries the caller's function to the
 * classification of the answer.
 */
#include "bot/telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bot/stats.h"
#include "bot/util.h"
#include "bot/xfer.h"

struct call {
	struct tg *tg;
	enum stat_method method;
	tg_done_fn fn;
	void *arg;
	LIST_ENTRY(call) link;
};

struct tg {
	struct xfer *x;
	char base[1024]; /* <api_url>/bot<token>/ : never logged */
	char proxy[512];    /* may hold a password: never logged */
	char no_proxy[512];
	long connect_timeout;
	long request_timeout;
	size_t max_response;
	struct stats *stats;
	const struct clock *clk;
	LIST_HEAD(, call) calls; /* in flight: freed by tg_free if the
				    transfers were aborted */
};

struct tg *tg_new(struct xfer *x, const struct tg_opts *o, char *err,
		  size_t errlen)
{
	struct tg *tg = calloc(1, sizeof(*tg));

	if (tg == NULL) {
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	if (tg_set_token(tg, o->api_url, o->token, err, errlen) != 0) {
		free(tg);
		return NULL;
	}
	str_copy(tg->proxy, o->proxy ? o->proxy : "", sizeof(tg->proxy));
	str_copy(tg->no_proxy, o->no_proxy ? o->no_proxy : "",
		 sizeof(tg->no_proxy));
	tg->x = x;
	tg->stats = o->stats;
	tg->clk = o->clk;
	LIST_INIT(&tg->calls);
	tg->connect_timeout = o->connect_timeout;
	tg->request_timeout = o->request_timeout;
	tg->max_response = o->max_response;
	return tg;
}

int tg_set_token(struct tg *tg, const char *api_url, const char *token,
		 char *err, size_t errlen)
{
	char base[sizeof(tg->base)];
	int n = snprintf(base, sizeof(base), "%s/bot%s/", api_url, token);

	if (n < 0 || (size_t)n >= sizeof(base)) {
		explicit_bzero(base, sizeof(base));
		return err_set(err, errlen, "telegram.api_url is too long");
	}
	memcpy(tg->base, base, sizeof(base));
	explicit_bzero(base, sizeof(base));
	return 0;
}

void tg_free(struct tg *tg)
{
	if (tg == NULL)
		return;
	while (!LIST_EMPTY(&tg->calls)) {
		struct call *c = LIST_FIRST(&tg->calls);

		LIST_REMOVE(c, link);
		free(c);
	}
	explicit_bzero(tg, sizeof(*tg));
	free(tg);
}

static void tg_count(struct tg *tg, enum stat_method m,
		     const struct tg_reply *r)
{
	char text[ST_LAST_ERROR];

	if (tg->stats == NULL)
		return;
	stats_tg_request(tg->stats, m, r->http_status);
	if (r->outcome == TG_OK || r->outcome == TG_NOT_MODIFIED) {
		stats_tg_ok(tg->stats, tg->clk->wall);
		return;
	}
	snprintf(text, sizeof(text), "%s: %s", tg_outcome_name(r->outcome),
		 r->description);
	stats_tg_error(tg->stats, tg->clk->wall, text);
	if (r->outcome == TG_RATE_LIMITED)
		stats_tg_rate_limited(tg->stats, r->retry_after);
}

static void on_done(void *arg, const struct xfer_result *xr)
{
	struct call *c = arg;
	struct tg_reply r;

	LIST_REMOVE(c, link);
	tg_classify(&r, xr->curl_code, xr->error, xr->http_status, xr->body,
		    xr->len);
	tg_count(c->tg, c->method, &r);
	c->fn(c->arg, &r);
	tg_reply_free(&r);
	free(c);
}

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	char url[1200];
	struct xfer_req req = {
		.method = "POST",
		.url = url,
		.body = body,
		.connect_timeout = tg->connect_timeout,
		.timeout = timeout ? timeout : tg->request_timeout,
		.max_response = tg->max_response,
		.proxy = tg->proxy,
		.no_proxy = tg->no_proxy,
	};
	struct call *c;
	int rc;

	if (body == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		free(body);
		return -1;
	}
	c->tg = tg;
	c->method = stats_method(method);
	c->fn = fn;
	c->arg = arg;
	snprintf(url, sizeof(url), "%s%s", tg->base, method);
	rc = xfer_start(tg->x, &req, on_done, c);
	explicit_bzero(url, sizeof(url));
	if (rc != 0)
		free(c);
	else
		LIST_INSERT_HEAD(&tg->calls, c, link);
	return rc;
}
