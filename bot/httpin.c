/*
 * httpin.c - the HTTP transport. See httpin.h.
 *
 * A POST is parsed whole (webhook.h: every alert valid, or a 400 naming
 * the first that is not), stored inside a savepoint (a store error rolls
 * the request back: 503, nothing stored), then parked until the turn's
 * commit: 200 with the ids once it is durable, 503 if the commit failed.
 */
#include "bot/httpin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "alerts/httpd.h"
#include "alerts/store.h"
#include "alerts/webhook.h"
#include "bot/config.h"
#include "bot/intake.h"
#include "bot/util.h"

#define METRICS_MAX (1 << 20)

/* A request whose alerts are in the turn's transaction. */
struct parked {
	struct httpd_req *req;
	char *ids; /* "[1,2,3]" */
};

struct httpin {
	struct httpin_deps d;
	struct httpd *httpd;
	struct parked *p;
	size_t n, cap;
};

static const struct {
	const char *path;
	enum webhook_kind kind;
} endpoints[] = {
	{ "/api/v1/alerts", WEBHOOK_GENERIC },
	{ "/api/v1/alertmanager", WEBHOOK_ALERTMANAGER },
	{ "/api/v1/grafana", WEBHOOK_GRAFANA },
};

static void respond_error(struct httpd_req *req, int status, const char *msg)
{
	char *body = intake_error_json(msg);

	httpd_respond(req, status, NULL, body ? body :
		      "{\"ok\":false,\"error\":\"out of memory\"}");
	free(body);
}

/* Stores every alert of the request, or none. Returns the ids as a JSON
 * list (caller frees), or NULL with err. */
static char *store_all(struct httpin *h, struct alert *a, int n, char *err,
		       size_t errlen)
{
	struct intake_origin o = { INTAKE_HTTP, -1, -1 };
	struct buf ids;

	buf_init(&ids, (size_t)n * 24 + 8);
	if (store_savepoint(h->d.store) != 0) {
		err_set(err, errlen, "store: %s", store_errmsg(h->d.store));
		return NULL;
	}
	buf_append(&ids, "[", 1);
	for (int i = 0; i < n; i++) {
		if (intake_submit(h->d.intake, &a[i], &o, err, errlen) != 0) {
			store_savepoint_rollback(h->d.store);
			buf_free(&ids);
			return NULL;
		}
		buf_printf(&ids, "%s%lld", i ? "," : "", (long long)a[i].id);
	}
	buf_append(&ids, "]", 1);
	if (store_savepoint_release(h->d.store) != 0) {
		err_set(err, errlen, "store: %s", store_errmsg(h->d.store));
		store_savepoint_rollback(h->d.store);
		buf_free(&ids);
		return NULL;
	}
	return ids.data;
}

static int park(struct httpin *h, struct httpd_req *req, char *ids)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct parked *p = realloc(h->p, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		h->p = p;
		h->cap = cap;
	}
	h->p[h->n].req = req;
	h->p[h->n].ids = ids;
	h->n++;
	return 0;
}

static void on_post(struct httpin *h, struct httpd_req *req,
		    enum webhook_kind kind, const char *body, size_t len)
{
	struct webhook_opts wo = {
		.default_severity = h->d.cfg->http_default_severity,
		.max_alerts = (size_t)h->d.cfg->http_max_alerts,
	};
	struct alert *a = NULL;
	char err[512], *ids = NULL;
	int n = webhook_parse(kind, body, len, &wo, &a, err, sizeof(err));

	if (n < 0) {
		intake_refused(h->d.intake, INTAKE_HTTP);
		respond_error(req, 400, err);
		return;
	}
	if (n > 0)
		ids = store_all(h, a, n, err, sizeof(err));
	else
		ids = strdup("[]");
	for (int i = 0; i < n; i++)
		alert_free(&a[i]);
	free(a);
	if (ids == NULL) {
		respond_error(req, 503, n > 0 ? err : "out of memory");
		return;
	}
	if (park(h, req, ids) != 0) {
		/* Stored, but nothing to answer with later: the sender
		 * retries and the repeat is suppressed by key, or shows. */
		free(ids);
		respond_error(req, 503, "out of memory");
	}
}

static void on_metrics(struct httpin *h, struct httpd_req *req)
{
	struct buf b;
	char err[256];

	buf_init(&b, METRICS_MAX);
	if (h->d.metrics(h->d.arg, &b, err, sizeof(err)) != 0 ||
	    b.data == NULL)
		respond_error(req, 500, b.data ? err : "out of memory");
	else
		httpd_respond(req, 200, "text/plain; version=0.0.4; "
			      "charset=utf-8", b.data);
	buf_free(&b);
}

static void on_health(struct httpin *h, struct httpd_req *req)
{
	char why[512], body[600];

	if (h->d.health(h->d.arg, why, sizeof(why))) {
		httpd_respond(req, 200, "text/plain; charset=utf-8", "ok\n");
		return;
	}
	snprintf(body, sizeof(body), "%s\n", why);
	httpd_respond(req, 503, "text/plain; charset=utf-8", body);
}

static void on_request(void *arg, struct httpd_req *req, const char *method,
		       const char *path, const char *body, size_t len)
{
	struct httpin *h = arg;
	int post = strcmp(method, "POST") == 0;

	for (size_t i = 0; i < ARRAY_LEN(endpoints); i++) {
		if (strcmp(path, endpoints[i].path) != 0)
			continue;
		if (post)
			on_post(h, req, endpoints[i].kind, body, len);
		else
			respond_error(req, 405, "method: use POST");
		return;
	}
	if (strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0) {
		if (post)
			respond_error(req, 405, "method: use GET");
		else if (path[1] == 'm')
			on_metrics(h, req);
		else
			on_health(h, req);
		return;
	}
	respond_error(req, 404, "path: not found");
}

int httpin_open(struct httpin **out, const struct httpin_deps *deps,
		char *err, size_t errlen)
{
	const struct config *c = deps->cfg;
	struct httpd_opts o = {
		.listen = c->http_listen,
		.token = c->http_token,
		.max_body = c->http_max_body,
		.max_conns = (unsigned)c->http_max_connections,
		.timeout_s = (unsigned)c->http_timeout,
		.request_timeout_s = (unsigned)c->http_request_timeout,
	};
	struct httpin *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return err_set(err, errlen, "out of memory");
	h->d = *deps;
	if (httpd_open(&h->httpd, &o, on_request, h, err, errlen) != 0) {
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

/* Answers every parked request of the turn: ok only if committed. */
static void httpin_committed(void *arg, int ok)
{
	struct httpin *h = arg;
	char body[64];

	for (size_t i = 0; i < h->n; i++) {
		struct parked *p = &h->p[i];

		if (!ok) {
			respond_error(p->req, 503, "store: commit failed; "
				      "nothing stored, try again");
		} else {
			struct buf b;

			buf_init(&b, strlen(p->ids) + sizeof(body));
			buf_printf(&b, "{\"ok\":true,\"ids\":%s}", p->ids);
			if (b.data)
				httpd_respond(p->req, 200, NULL, b.data);
			else
				respond_error(p->req, 500, "out of memory");
			buf_free(&b);
		}
		free(p->ids);
	}
	h->n = 0;
}

static size_t httpin_pollfds(void *arg, struct pollfd *fds, size_t max)
{
	return httpd_pollfds(((struct httpin *)arg)->httpd, fds, max);
}

static void httpin_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct httpin *h = arg;

	httpd_handle(h->httpd, fds, n, h->d.clk->now);
}

static int64_t httpin_next(void *arg)
{
	struct httpin *h = arg;

	return httpd_next_deadline(h->httpd, h->d.clk->now);
}

void httpin_source(struct httpin *h, struct loop_source *src)
{
	memset(src, 0, sizeof(*src));
	src->name = "http";
	src->arg = h;
	src->maxfds = 1;
	src->pollfds = httpin_pollfds;
	src->handle = httpin_handle;
	src->next = httpin_next;
	src->committed = httpin_committed;
}

int httpin_port(const struct httpin *h)
{
	return httpd_port(h->httpd);
}

void httpin_close(struct httpin *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->p[i].ids);
	httpd_close(h->httpd); /* parked requests: 503 */
	free(h->p);
	free(h);
}
