/*
 * intake.c - one validated alert becomes one stored alert. See intake.h.
 */
#include "bot/intake.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "alerts/route.h"
#include "alerts/store.h"
#include "bot/chats.h"
#include "bot/config.h"
#include "bot/mutes.h"
#include "bot/stats.h"

struct intake {
	struct intake_deps d;
};

static enum stat_transport transport(enum intake_transport t)
{
	return t == INTAKE_HTTP ? ST_TRANSPORT_HTTP : ST_TRANSPORT_SOCKET;
}

struct intake *intake_new(const struct intake_deps *deps)
{
	struct intake *in = calloc(1, sizeof(*in));

	if (in != NULL)
		in->d = *deps;
	return in;
}

void intake_free(struct intake *in)
{
	free(in);
}

/* 1 and the original's id when a repeats a key that is still firing: not
 * when a is more severe than that original (a new alert, even after an
 * ack), nor when it comes from another sender (key scope "uid"). */
static int intake_repeat(struct intake *in, const struct alert *a,
			 int64_t *orig)
{
	struct firing f;
	int window = in->d.cfg->repeat_window;

	if (a->key == NULL || a->status != ALERT_FIRING)
		return 0;
	if (store_last_firing(in->d.store, a->key,
			      store_key_peer(in->d.cfg->key_scope ==
					     KEY_SCOPE_SHARED, a->peer_uid),
			      &f) != 1)
		return 0;
	if ((int)a->severity < f.severity) /* SEV_CRITICAL is 0 */
		return 0;
	/* Acked: the operators know; stay quiet until it resolves. */
	if (!f.acked && (window == 0 ||
			 in->d.clk->wall - f.received_at >=
			 (int64_t)window * 1000))
		return 0;
	*orig = f.id;
	return 1;
}

/* A string member of a JSON object text, copied into dst; 0 if absent. */
static int json_member(const char *json, const char *name, char *dst,
		       size_t size)
{
	cJSON *o = json ? cJSON_Parse(json) : NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	int found = cJSON_IsString(v);

	if (found)
		str_copy(dst, v->valuestring, size);
	cJSON_Delete(o);
	return found;
}

/*
 * Alertmanager copies that must not reach the chat again (a fleet's
 * alerts come through several Alertmanager peers, in any order):
 *  - a firing or a resolution whose startsAt is that of a resolution
 *    already stored is a late copy of an episode that ended (or another
 *    peer's word of its end): a repeat of its original;
 *  - the resolution of a relay's one-shot alert (label opsbot_oneshot,
 *    bot/relay.h) is Alertmanager timing it out: a one-shot is shown
 *    once and never "resolved".
 * 1 (with *orig, 0 if unknown) when a is such a copy.
 */
static int intake_stale(struct intake *in, const struct alert *a,
			int64_t *orig)
{
	char via[32], starts[64], shot[32];

	if (a->key == NULL || !json_member(a->meta, "via", via, sizeof(via)) ||
	    strcmp(via, "alertmanager") != 0)
		return 0;
	if (a->status == ALERT_RESOLVED &&
	    json_member(a->labels, "opsbot_oneshot", shot, sizeof(shot)))
		return 1;
	if (!json_member(a->meta, "startsAt", starts, sizeof(starts)))
		return 0;
	return store_resolved_start(in->d.store, a->key, starts, orig) == 1;
}

int intake_submit(struct intake *in, struct alert *a,
		  const struct intake_origin *o, char *err, size_t errlen)
{
	struct dest dests[CONFIG_MAX_CHATS * 2];
	const struct mute *m = NULL;
	int64_t orig = 0;
	int state = DS_PENDING, rc = 0;
	size_t n;

	a->received_at = in->d.clk->wall;
	a->peer_uid = o->uid;
	a->peer_pid = o->pid;
	n = route_dests(in->d.cfg, a, dests, ARRAY_LEN(dests));
	for (size_t i = 0; i < n; i++)
		dests[i].chat_id = chats_resolve(in->d.chats, dests[i].chat_id);
	if (intake_repeat(in, a, &orig)) {
		state = DS_SUPPRESSED;
		rc = store_bump_repeat(in->d.store, orig);
	} else if (intake_stale(in, a, &orig)) {
		state = DS_SUPPRESSED;
	} else if ((m = mutes_match(in->d.mutes, a)) != NULL) {
		state = DS_MUTED;
		rc = mutes_hold(in->d.mutes, m->id);
	}
	if (rc == 0)
		rc = store_alert_insert(in->d.store, a, dests, n, state, orig);
	if (rc != 0) {
		intake_refused(in, o->transport);
		return err_set(err, errlen, "store: %s; alert not stored",
			       store_errmsg(in->d.store));
	}
	stats_alert(in->d.stats, transport(o->transport),
		    m ? ST_INTAKE_MUTED : ST_INTAKE_ACCEPTED);
	return 0;
}

char *intake_error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *j;

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	j = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return j;
}

void intake_refused(struct intake *in, enum intake_transport t)
{
	stats_alert(in->d.stats, transport(t), ST_INTAKE_REFUSED);
}
