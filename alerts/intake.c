/*
 * intake.c - one socket line becomes one stored alert (or one error
 * answer). See intake.h. The answer waits in the daemon until the turn's
 * commit: an "ok" is only ever sent for an alert that is on disk.
 */
#include "intake.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "alerts/store.h"
#include "bot/daemon.h"
#include "bot/dispatch.h"
#include "bot/log.h"

static int route_matches(const struct route *r, const struct alert *a)
{
	if ((int)a->severity > r->min_severity)
		return 0;
	if (r->source[0] == '\0')
		return 1;
	return fnmatch(r->source, a->source ? a->source : "", 0) == 0;
}

static size_t dest_add(struct dest *out, size_t n, size_t max, int64_t chat,
		       int64_t thread)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].chat_id == chat)
			return n;
	if (n < max) {
		out[n].chat_id = chat;
		out[n].thread_id = thread;
		n++;
	}
	return n;
}

size_t intake_route(const struct config *cfg, const struct alert *a,
		    struct dest *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route *r = &cfg->routes[i];

		if (!route_matches(r, a))
			continue;
		for (size_t j = 0; j < r->nchats; j++)
			n = dest_add(out, n, max, r->chats[j], r->thread_id);
	}
	if (n == 0)
		for (size_t j = 0; j < cfg->nchats; j++)
			n = dest_add(out, n, max, cfg->chats[j], 0);
	return n;
}

static int mute_matches(const struct mute *m, const struct alert *a)
{
	if (m->max_severity >= 0 && (int)a->severity < m->max_severity)
		return 0;
	if (m->source[0] == '\0')
		return 1;
	return fnmatch(m->source, a->source ? a->source : "", 0) == 0;
}

/* The first active mute that holds a, or NULL. */
static const struct mute *intake_muted(struct daemon *d, const struct alert *a)
{
	if (a->status == ALERT_RESOLVED)
		return NULL; /* a resolution is always good news to hear */
	for (size_t i = 0; i < d->nmutes; i++)
		if (d->mutes[i].until > d->wall && mute_matches(&d->mutes[i], a))
			return &d->mutes[i];
	return NULL;
}

/* 1 and the original's id when a repeats a key that is still firing. */
static int intake_repeat(struct daemon *d, const struct alert *a,
			 int64_t *orig)
{
	int64_t id, at;
	int acked, rc;

	if (a->key == NULL || a->status != ALERT_FIRING)
		return 0;
	rc = store_last_firing(d->store, a->key, &id, &at, &acked);
	if (rc != 1)
		return 0;
	/* Acked: the operators know; stay quiet until it resolves. */
	if (!acked && (d->cfg.repeat_window == 0 ||
		       d->wall - at >= (int64_t)d->cfg.repeat_window * 1000))
		return 0;
	*orig = id;
	return 1;
}

static int intake_store(struct daemon *d, struct alert *a)
{
	struct dest dests[CONFIG_MAX_CHATS * 2];
	const struct mute *m;
	int64_t orig = 0;
	int state = DS_PENDING;
	size_t n;

	n = intake_route(&d->cfg, a, dests, ARRAY_LEN(dests));
	for (size_t i = 0; i < n; i++)
		dests[i].chat_id = dispatch_chat_id(d->dispatch,
						    dests[i].chat_id);
	if (intake_repeat(d, a, &orig)) {
		state = DS_SUPPRESSED;
		if (store_bump_repeat(d->store, orig) != 0)
			return -1;
	} else if ((m = intake_muted(d, a)) != NULL) {
		state = DS_MUTED;
		if (store_mute_hold(d->store, m->id) != 0)
			return -1;
	}
	return store_alert_insert(d->store, a, dests, n, state, orig);
}

static char *intake_control(struct daemon *d, const char *line, size_t len)
{
	cJSON *req = cJSON_ParseWithLength(line, len), *resp = NULL;
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "command");
	char *out = NULL;

	if (cJSON_IsString(cmd) && strcmp(cmd->valuestring, "status") == 0) {
		resp = cJSON_CreateObject();
		cJSON_AddTrueToObject(resp, "ok");
		cJSON_AddItemToObject(resp, "status", daemon_status_json(d));
		out = cJSON_PrintUnformatted(resp);
	}
	cJSON_Delete(resp);
	cJSON_Delete(req);
	return out;
}

/* A line that asks something of the daemon rather than reporting an
 * alert: {"command":"status"}. Cheap test first: this runs per line. */
static int is_control(const char *line, size_t len)
{
	return memmem(line, len, "\"command\"", 9) != NULL;
}

static int peer_allowed(const struct config *cfg, const struct peer *p)
{
	if (cfg->nallowed_uids == 0)
		return 1;
	for (size_t i = 0; i < cfg->nallowed_uids; i++)
		if ((int64_t)cfg->allowed_uids[i] == p->uid)
			return 1;
	return 0;
}

static void intake_reject(struct daemon *d, uint64_t cid, const char *msg)
{
	d->ctr.alerts_rejected++;
	daemon_reply(d, cid, 0, strdup(msg), NULL);
}

void intake_line(void *arg, uint64_t cid, const struct peer *peer,
		 const char *line, size_t len)
{
	struct daemon *d = arg;
	struct alert a;
	char err[256];

	if (line == NULL) {
		snprintf(err, sizeof(err), "line: longer than %zu bytes",
			 d->cfg.max_line);
		intake_reject(d, cid, err);
		return;
	}
	if (!peer_allowed(&d->cfg, peer)) {
		log_warnx("refused alert from uid %lld pid %lld: not in "
			  "socket.allowed_uids", (long long)peer->uid,
			  (long long)peer->pid);
		snprintf(err, sizeof(err), "peer: uid %lld may not send alerts",
			 (long long)peer->uid);
		intake_reject(d, cid, err);
		return;
	}
	if (is_control(line, len)) {
		char *raw = intake_control(d, line, len);

		if (raw != NULL) {
			daemon_reply(d, cid, 0, NULL, raw);
			return;
		}
	}
	if (alert_parse(line, len, &a, err, sizeof(err)) != 0) {
		intake_reject(d, cid, err);
		return;
	}
	a.received_at = d->wall;
	a.peer_uid = peer->uid;
	a.peer_pid = peer->pid;
	if (intake_store(d, &a) != 0) {
		snprintf(err, sizeof(err), "store: %s; alert not stored",
			 store_errmsg(d->store));
		intake_reject(d, cid, err);
	} else {
		d->ctr.alerts_accepted++;
		daemon_reply(d, cid, a.id, NULL, NULL);
	}
	alert_free(&a);
}
