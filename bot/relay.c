/*
 * relay.c - relay mode: forwards every stored alert to every Alertmanager
 * peer, durably, with backoff and a breaker per peer. See relay.h.
 */
#include "bot/relay.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "alerts/store.h"
#include "bot/amclient.h"
#include "bot/config.h"
#include "bot/pacing.h"
#include "bot/util.h"

#define RELAY_PATH "/api/v2/alerts"

enum post_kind { POST_QUEUE, POST_REPOST };

struct peer {
	size_t idx;
	int64_t cursor;        /* last alert id taken (memory) */
	int busy;              /* a POST in flight */
	int batch_limit;       /* alerts per POST; halves on a 400 */
	int failures;          /* consecutive failed POSTs */
	int64_t next_try;      /* mono ms: not before (backoff) */
	struct breaker br;
	int64_t repost_at;     /* mono ms: next round of re-posts */
	int64_t repost_pos;    /* id the running round has reached; -1 none */
	int64_t repost_upto;   /* the round covers ids up to this */
	uint64_t posted, reposted, failed, dropped;
	char last_error[256];
	int64_t last_error_wall, last_ok_wall;
	int64_t queue;         /* cached for status */
};

struct relay {
	struct relay_deps d;
	struct amclient *am;
	char host[256];
	int64_t committed_max; /* newest committed alert id */
	struct peer peers[AM_MAX_PEERS];
	size_t npeers;
	int inflight;
};

/* What a POST carries back to its answer. */
struct post_ctx {
	struct relay *r;
	size_t peer;
	enum post_kind kind;
	int n;          /* alerts in it */
	int64_t last;   /* the last alert id in it */
};

/* --- mapping --- */

/* A Prometheus label name from any string: [a-zA-Z_][a-zA-Z0-9_]*. */
static void label_name(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	if (size < 2)
		return;
	if (!isalpha((unsigned char)*s) && *s != '_')
		dst[n++] = '_';
	for (; *s && n + 1 < size; s++)
		dst[n++] = isalnum((unsigned char)*s) ? *s : '_';
	dst[n] = '\0';
}

/* Copies at most max bytes of s, cut on a character boundary. */
static char *cut_utf8(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *o;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(o, s, n);
	o[n] = '\0';
	return o;
}

static void set_label(cJSON *labels, const char *name, const char *value)
{
	cJSON_DeleteItemFromObjectCaseSensitive(labels, name);
	cJSON_AddStringToObject(labels, name, value);
}

static int add_labels(cJSON *labels, const struct alert *a,
		      const char *host)
{
	cJSON *own = a->labels ? cJSON_Parse(a->labels) : NULL, *l;
	char name[ALERT_MAX_LABEL_NAME + 2], id[32];

	cJSON_ArrayForEach(l, own) {
		if (!cJSON_IsString(l) || l->string == NULL)
			continue;
		label_name(name, sizeof(name), l->string);
		set_label(labels, name, l->valuestring);
	}
	cJSON_Delete(own);
	/* the mapped ones win: they are the alert's identity */
	if (a->key)
		set_label(labels, "alertname", a->key);
	else
		set_label(labels, "alertname", a->title ? a->title : "opsbot");
	set_label(labels, "severity", severity_name(a->severity));
	if (a->source)
		set_label(labels, "instance", a->source);
	set_label(labels, "host", host);
	if (a->key == NULL) {
		snprintf(id, sizeof(id), "%" PRId64, a->id);
		set_label(labels, "opsbot_oneshot", id);
	}
	return 0;
}

int relay_alert_json(const struct alert *a, const struct alert *orig,
		     const char *host, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject(), *labels, *ann;
	char ts[40], *desc;

	if (orig == NULL)
		orig = a;
	if (o == NULL || (labels = cJSON_AddObjectToObject(o, "labels")) ==
	    NULL || (ann = cJSON_AddObjectToObject(o, "annotations")) == NULL) {
		cJSON_Delete(o);
		return -1;
	}
	add_labels(labels, orig, host);
	/* what it says now: the newest words of a repeat or resolution */
	if (a->title || orig->title)
		cJSON_AddStringToObject(ann, "summary", a->title ? a->title :
					orig->title);
	if (a->text) {
		if ((desc = cut_utf8(a->text, RELAY_MAX_DESCRIPTION)) == NULL) {
			cJSON_Delete(o);
			return -1;
		}
		cJSON_AddStringToObject(ann, "description", desc);
		free(desc);
	}
	if (a->url || orig->url) {
		cJSON_AddStringToObject(ann, "url", a->url ? a->url : orig->url);
		cJSON_AddStringToObject(o, "generatorURL", a->url ? a->url :
					orig->url);
	}
	am_time(ts, sizeof(ts), orig->received_at);
	cJSON_AddStringToObject(o, "startsAt", ts);
	if (a->status == ALERT_RESOLVED) {
		am_time(ts, sizeof(ts), a->received_at > orig->received_at ?
			a->received_at : orig->received_at + 1);
		cJSON_AddStringToObject(o, "endsAt", ts);
	}
	cJSON_AddItemToArray(arr, o);
	return 0;
}

/* --- the cursors --- */

static void kv_name(const struct relay *r, size_t i, char *dst, size_t size)
{
	snprintf(dst, size, RELAY_KV_PREFIX "%s", am_peer_url(r->am, i));
}

static void cursors_load(struct relay *r)
{
	char k[AM_MAX_URL + 32], v[32];

	for (size_t i = 0; i < r->npeers; i++) {
		kv_name(r, i, k, sizeof(k));
		r->peers[i].cursor = store_kv_get(r->d.store, k, v,
						  sizeof(v)) == 1 ?
				     strtoll(v, NULL, 10) : 0;
	}
}

static int cursor_save(struct relay *r, size_t i)
{
	char k[AM_MAX_URL + 32], v[32];

	kv_name(r, i, k, sizeof(k));
	snprintf(v, sizeof(v), "%" PRId64, r->peers[i].cursor);
	return store_kv_set(r->d.store, k, v);
}

/* --- building it --- */

struct relay *relay_new(const struct relay_deps *deps, char *err,
			size_t errlen)
{
	const struct config *c = deps->cfg;
	struct relay *r = calloc(1, sizeof(*r));
	struct am_opts o = {
		.npeers = c->relay_npeers,
		.token = c->relay_token,
		.user = c->relay_user,
		.password = c->relay_password,
		.connect_timeout = c->relay_connect_timeout,
		.timeout = c->relay_timeout,
		.max_response = 64 * 1024,
	};
	int64_t max;

	if (r == NULL) {
		err_set(err, errlen, "out of memory");
		return NULL;
	}
	r->d = *deps;
	for (size_t i = 0; i < c->relay_npeers && i < AM_MAX_PEERS; i++)
		o.peers[i] = c->relay_peers[i];
	if ((r->am = am_new(deps->xfer, &o, err, errlen)) == NULL) {
		free(r);
		return NULL;
	}
	if (c->relay_host[0])
		str_copy(r->host, c->relay_host, sizeof(r->host));
	else if (gethostname(r->host, sizeof(r->host) - 1) != 0)
		str_copy(r->host, "localhost", sizeof(r->host));
	r->npeers = am_npeers(r->am);
	for (size_t i = 0; i < r->npeers; i++) {
		struct peer *p = &r->peers[i];

		p->idx = i;
		p->batch_limit = c->relay_batch;
		p->repost_pos = -1;
		p->repost_at = deps->clk->now;
		breaker_init(&p->br, c->breaker_threshold,
			     (int64_t)(c->retry_base * 1000),
			     (int64_t)(c->retry_cap * 1000));
	}
	cursors_load(r);
	max = store_max_alert_id(deps->store);
	r->committed_max = max > 0 ? max : 0;
	return r;
}

void relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	am_free(r->am);
	free(r);
}

size_t relay_npeers(const struct relay *r)
{
	return r->npeers;
}

int relay_inflight(const struct relay *r)
{
	return r->inflight;
}

/* --- answers --- */

static void peer_failed(struct relay *r, struct peer *p, const char *why)
{
	int64_t now = r->d.clk->now;
	int64_t base = (int64_t)(r->d.cfg->retry_base * 1000);
	int64_t cap = (int64_t)(r->d.cfg->retry_cap * 1000);

	p->failed++;
	p->failures++;
	str_copy(p->last_error, why, sizeof(p->last_error));
	p->last_error_wall = r->d.clk->wall;
	breaker_failure(&p->br, now, r->d.rng);
	/* at least a little: a refused connection must not spin */
	p->next_try = now + 100 + backoff_delay(p->failures - 1, base, cap,
						r->d.rng);
}

/* A 400: Alertmanager refused what was sent. Smaller batches find the
 * alert it refuses, which is then skipped (counted, said in status). */
static void peer_refused(struct relay *r, struct peer *p,
			 const struct post_ctx *pc, const char *why)
{
	p->failed++;
	str_copy(p->last_error, why, sizeof(p->last_error));
	p->last_error_wall = r->d.clk->wall;
	breaker_success(&p->br, r->d.clk->now);
	if (pc->n > 1) {
		p->batch_limit = pc->n / 2;
		return;
	}
	p->dropped++;
	if (pc->kind == POST_QUEUE) {
		p->cursor = pc->last;
		cursor_save(r, p->idx);
	} else {
		p->repost_pos = pc->last;
	}
}

static void post_done(void *ctx, const struct am_answer *a)
{
	const struct post_ctx *pc = ctx;
	struct relay *r = pc->r;
	struct peer *p = &r->peers[pc->peer];

	r->inflight--;
	p->busy = 0;
	if (!a->ok && a->status == 400) {
		peer_refused(r, p, pc, a->error);
		return;
	}
	if (!a->ok) {
		peer_failed(r, p, a->error);
		return;
	}
	breaker_success(&p->br, r->d.clk->now);
	p->failures = 0;
	p->next_try = 0;
	p->last_ok_wall = r->d.clk->wall;
	if (p->batch_limit < r->d.cfg->relay_batch)
		p->batch_limit = p->batch_limit * 2 > r->d.cfg->relay_batch ?
				 r->d.cfg->relay_batch : p->batch_limit * 2;
	if (pc->kind == POST_QUEUE) {
		p->posted += (uint64_t)pc->n;
		if (pc->last > p->cursor) {
			p->cursor = pc->last;
			/* a failed write is retried with the next answer; the
			 * turn's commit failing puts memory back (committed) */
			cursor_save(r, p->idx);
		}
	} else {
		p->reposted += (uint64_t)pc->n;
		p->repost_pos = pc->last;
	}
}

/* --- posting --- */

/* The firing a keyed alert belongs to (itself for an original) into
 * buf: 1 (the caller frees it), or 0 when a is one-shot or its original
 * is gone. */
static int original_of(struct relay *r, const struct alert *a,
		       struct alert *buf)
{
	if (a->key == NULL)
		return 0;
	return store_original_at(r->d.store, a->key, a->id, buf) == 1;
}

/* Builds the POST of (some of) alerts as into body; returns how many
 * went in, -1 on error. Every alert of as is freed. */
static int batch_body(struct relay *r, struct alert *as, int n, char **body,
		      int64_t *last)
{
	cJSON *arr = cJSON_CreateArray();
	size_t approx = 2;
	int used = 0, rc = 0;

	*body = NULL;
	for (int i = 0; arr && i < n; i++) {
		struct alert orig;
		int have = original_of(r, &as[i], &orig);

		/* a rough size: stop before the body grows too large */
		approx += 256 + (as[i].title ? strlen(as[i].title) : 0) +
			  (as[i].labels ? strlen(as[i].labels) : 0) +
			  (as[i].text ? (strlen(as[i].text) <
					 RELAY_MAX_DESCRIPTION ?
					 strlen(as[i].text) :
					 RELAY_MAX_DESCRIPTION) : 0);
		if (used > 0 && approx > RELAY_MAX_BODY) {
			if (have)
				alert_free(&orig);
			break;
		}
		rc = relay_alert_json(&as[i], have ? &orig : NULL, r->host,
				      arr);
		if (have)
			alert_free(&orig);
		if (rc != 0)
			break;
		*last = as[i].id;
		used++;
	}
	for (int i = 0; i < n; i++)
		alert_free(&as[i]);
	if (arr == NULL || rc != 0 || used == 0 ||
	    (*body = cJSON_PrintUnformatted(arr)) == NULL)
		used = -1;
	cJSON_Delete(arr);
	return used;
}

static int post_start(struct relay *r, struct peer *p, enum post_kind kind,
		      struct alert *as, int n)
{
	struct post_ctx pc = { .r = r, .peer = p->idx, .kind = kind };
	char *body, err[AM_MAX_ERROR];
	int rc;

	if ((pc.n = batch_body(r, as, n, &body, &pc.last)) <= 0) {
		peer_failed(r, p, "could not build the request (store or "
			    "memory)");
		return -1;
	}
	rc = am_request_peer(r->am, p->idx, "POST", RELAY_PATH, body, &pc,
			     sizeof(pc), post_done, err, sizeof(err));
	free(body);
	if (rc != 0) {
		peer_failed(r, p, err);
		return -1;
	}
	p->busy = 1;
	r->inflight++;
	breaker_allow(&p->br, r->d.clk->now); /* marks a probe in flight */
	return 0;
}

/* The next thing this peer should get: its backlog first, then a round
 * of re-posts when one is due. */
static void peer_run(struct relay *r, struct peer *p)
{
	int64_t now = r->d.clk->now;
	size_t max = (size_t)p->batch_limit;
	struct alert *as;
	int n;

	if (p->busy || now < p->next_try || breaker_next(&p->br, now) > now)
		return;
	if ((as = calloc(max, sizeof(*as))) == NULL)
		return;
	if (p->cursor < r->committed_max) {
		n = store_alerts_after(r->d.store, p->cursor, r->committed_max,
				       as, max);
		if (n > 0) {
			post_start(r, p, POST_QUEUE, as, n);
			free(as);
			return;
		}
		if (n == 0) /* pruned or deleted: nothing left below max */
			p->cursor = r->committed_max;
	}
	if (p->repost_pos < 0 && now >= p->repost_at) {
		p->repost_pos = 0;
		p->repost_upto = p->cursor;
	}
	if (p->repost_pos >= 0) {
		n = store_firing_after(r->d.store, p->repost_pos,
				       p->repost_upto, as, max);
		if (n > 0) {
			post_start(r, p, POST_REPOST, as, n);
		} else if (n == 0) {
			p->repost_pos = -1;
			p->repost_at = now +
				(int64_t)r->d.cfg->relay_repost_interval * 1000;
		}
	}
	free(as);
}

void relay_run(struct relay *r)
{
	for (size_t i = 0; i < r->npeers; i++)
		peer_run(r, &r->peers[i]);
}

int64_t relay_next(const struct relay *r)
{
	int64_t next = INT64_MAX, now = r->d.clk->now;

	for (size_t i = 0; i < r->npeers; i++) {
		const struct peer *p = &r->peers[i];
		int64_t t;

		if (p->busy)
			continue;
		t = p->cursor < r->committed_max || p->repost_pos >= 0 ? now :
		    p->repost_at;
		if (t < p->next_try)
			t = p->next_try;
		if (t < breaker_next(&p->br, now))
			t = breaker_next(&p->br, now);
		if (t < next)
			next = t;
	}
	return next;
}

void relay_committed(struct relay *r, int ok)
{
	int64_t max;

	if (!ok) {
		cursors_load(r);
		return;
	}
	if ((max = store_max_alert_id(r->d.store)) > r->committed_max)
		r->committed_max = max;
}

/* --- status --- */

static const char *peer_state(const struct peer *p)
{
	if (p->br.state != BREAKER_CLOSED)
		return "down";
	return p->failures ? "retrying" : "ok";
}

void relay_peer_info(struct relay *r, size_t i, struct relay_peer_info *out)
{
	struct peer *p = &r->peers[i];
	int64_t q = store_alerts_count_after(r->d.store, p->cursor,
					     r->committed_max);

	if (q >= 0)
		p->queue = q;
	*out = (struct relay_peer_info){
		.url = am_peer_url(r->am, i),
		.state = peer_state(p),
		.queue = p->queue,
		.cursor = p->cursor,
		.posted = p->posted,
		.reposted = p->reposted,
		.failures = p->failed,
		.dropped = p->dropped,
		.breaker_open = p->br.state != BREAKER_CLOSED,
		.last_error = p->last_error,
		.last_error_wall = p->last_error_wall,
		.last_ok_wall = p->last_ok_wall,
	};
}

void relay_status(struct relay *r, cJSON *o)
{
	cJSON *rl = cJSON_AddObjectToObject(o, "relay"), *arr;
	char ts[40];

	if (rl == NULL)
		return;
	cJSON_AddStringToObject(rl, "host", r->host);
	/* an object by URL: `opsbot status` prints one line per figure */
	arr = cJSON_AddObjectToObject(rl, "peers");
	for (size_t i = 0; arr && i < r->npeers; i++) {
		struct relay_peer_info pi;
		cJSON *e;

		relay_peer_info(r, i, &pi);
		if ((e = cJSON_AddObjectToObject(arr, pi.url)) == NULL)
			break;
		cJSON_AddStringToObject(e, "state", pi.state);
		cJSON_AddNumberToObject(e, "queue", (double)pi.queue);
		cJSON_AddNumberToObject(e, "cursor", (double)pi.cursor);
		cJSON_AddNumberToObject(e, "posted", (double)pi.posted);
		cJSON_AddNumberToObject(e, "reposted", (double)pi.reposted);
		cJSON_AddNumberToObject(e, "failures", (double)pi.failures);
		cJSON_AddNumberToObject(e, "dropped", (double)pi.dropped);
		cJSON_AddStringToObject(e, "last_error", pi.last_error);
		if (pi.last_error_wall) {
			am_time(ts, sizeof(ts), pi.last_error_wall);
			cJSON_AddStringToObject(e, "last_error_at", ts);
		}
		if (pi.last_ok_wall) {
			am_time(ts, sizeof(ts), pi.last_ok_wall);
			cJSON_AddStringToObject(e, "last_ok_at", ts);
		}
	}
}
