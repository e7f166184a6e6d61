/*
 * cmd_silence.c - muting an Alertmanager alert where it lives: the Mute
 * button and /mute DURATION #ID create a silence through Alertmanager's
 * API v2 (POST /api/v2/silences), /unmute sN expires it (DELETE
 * /api/v2/silence/{id}) and /mutes reads the ones opsbot made back from
 * Alertmanager (GET /api/v2/silences).
 *
 * Each request goes through the Alertmanager client (bot/amclient.h) and
 * ends in a later turn: the handler queues the request with a copy of who
 * asked and where, and the answer's function writes the store and replies
 * (the reply is sent after that turn's commit, like any other).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/amclient.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/util.h"
#include "commands/commands.h"

#define SIL_LISTED 16       /* silences shown by /mutes */
#define SIL_MAX_MATCHERS 64 /* matchers of one silence */

enum sil_kind { SIL_CREATE, SIL_EXPIRE, SIL_LIST, SIL_UNDO };

/* Who asked and where, copied into the request (amclient.h). */
struct sil_op {
	const struct cmd_deps *deps;
	enum sil_kind kind;
	int64_t chat, thread, message_id, user_id;
	char user[64];
	int64_t alert_id;     /* SIL_CREATE */
	int64_t ends_at;      /* SIL_CREATE: wall ms */
	int64_t dur;
	int64_t row;          /* SIL_EXPIRE: the local number */
	char silence_id[64];  /* SIL_EXPIRE, SIL_UNDO */
	char matchers[512];   /* as shown */
	char ext_url[512];    /* the alert's Alertmanager UI, or "" */
};

/* The cmd_ctx of the operator who asked, for replies from a callback. */
static void op_ctx(const struct sil_op *op, struct cmd_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->deps = op->deps;
	c->chat = op->chat;
	c->thread = op->thread;
	c->message_id = op->message_id;
	c->user_id = op->user_id;
	str_copy(c->user, op->user, sizeof(c->user));
	c->admin = 1;
	c->name = op->kind == SIL_LIST ? "mutes" : op->kind == SIL_EXPIRE ?
		  "unmute" : "mute";
	c->args = "";
}

static void op_init(struct sil_op *op, const struct cmd_ctx *c,
		    enum sil_kind kind)
{
	memset(op, 0, sizeof(*op));
	op->deps = c->deps;
	op->kind = kind;
	op->chat = c->chat;
	op->thread = c->thread;
	op->message_id = c->message_id;
	op->user_id = c->user_id;
	str_copy(op->user, c->user, sizeof(op->user));
}

/* A reply made of a fixed text and an escaped one. */
static void reply2(const struct cmd_ctx *c, const char *html,
		   const char *plain)
{
	struct buf b;

	if (c->chat == 0)
		return; /* a button under a message too old to have a chat */
	buf_init(&b, CMD_REPLY_MAX);
	buf_printf(&b, "%s", html);
	cmd_escape_short(&b, plain, 900);
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}

/* "15:04", or with the date when it is not within a day. */
static void until_text(char *dst, size_t size, int64_t until, int64_t wall)
{
	fmt_clock(dst, size, until, until - wall >= 86400000LL ?
		  "%Y-%m-%d %H:%M" : "%H:%M");
}

/* --- which alerts, which matchers --- */

static cJSON *meta_of(const struct alert *a)
{
	return a->meta ? cJSON_Parse(a->meta) : NULL;
}

int cmd_silence_applies(const struct cmd_ctx *c, const struct alert *a)
{
	cJSON *m;
	const cJSON *via, *labels;
	int yes;

	if (c->deps->am == NULL || (m = meta_of(a)) == NULL)
		return 0;
	via = cJSON_GetObjectItemCaseSensitive(m, "via");
	labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	yes = cJSON_IsString(via) && strcmp(via->valuestring,
					    "alertmanager") == 0 &&
	      cJSON_IsObject(labels) && labels->child != NULL;
	cJSON_Delete(m);
	return yes;
}

/* 1 if label name is one the silence matches on. */
static int matcher_wanted(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->am_nmatchers; i++)
		if (strcmp(cfg->am_matchers[i], "*") == 0 ||
		    strcmp(cfg->am_matchers[i], name) == 0)
			return 1;
	return 0;
}

/* Adds the matchers of labels to arr and their text to shown. Returns
 * how many. */
static int matchers_build(const struct config *cfg, const cJSON *labels,
			  cJSON *arr, char *shown, size_t size)
{
	const cJSON *l;
	size_t pos = 0;
	int n = 0;

	shown[0] = '\0';
	cJSON_ArrayForEach(l, labels) {
		cJSON *mt;

		if (!cJSON_IsString(l) || l->string == NULL ||
		    !matcher_wanted(cfg, l->string) || n >= SIL_MAX_MATCHERS)
			continue;
		if ((mt = cJSON_CreateObject()) == NULL)
			return -1;
		cJSON_AddStringToObject(mt, "name", l->string);
		cJSON_AddStringToObject(mt, "value", l->valuestring);
		cJSON_AddBoolToObject(mt, "isRegex", 0);
		cJSON_AddBoolToObject(mt, "isEqual", 1);
		cJSON_AddItemToArray(arr, mt);
		if (pos + 8 < size) {
			int w = snprintf(shown + pos, size - pos, "%s%s=\"%s\"",
					 n ? ", " : "", l->string,
					 l->valuestring);

			pos = w < 0 ? pos : pos + (size_t)w;
			if (pos >= size) {
				/* cut on a character boundary */
				pos = size - 4;
				while (pos > 0 && ((unsigned char)shown[pos]
						   & 0xC0) == 0x80)
					pos--;
				memcpy(shown + pos, "...", 4);
				pos = size;
			}
		}
		n++;
	}
	return n;
}

/* The matcher names configured, for a refusal. */
static void matcher_names(const struct config *cfg, char *dst, size_t size)
{
	size_t pos = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < cfg->am_nmatchers && pos + 1 < size; i++) {
		int w = snprintf(dst + pos, size - pos, "%s%s", i ? ", " : "",
				 cfg->am_matchers[i]);

		if (w > 0)
			pos += (size_t)w;
	}
}

/* The silence's JSON body. NULL when out of memory or no matcher fits
 * (then *nmatch is 0). */
static char *silence_body(const struct cmd_ctx *c, const cJSON *labels,
			  struct sil_op *op, int *nmatch)
{
	const struct clock *clk = c->deps->clk;
	cJSON *o = cJSON_CreateObject(), *arr;
	char ts[40], by[128], note[256];
	char *body = NULL;

	*nmatch = 0;
	if (o == NULL || (arr = cJSON_AddArrayToObject(o, "matchers")) == NULL)
		goto out;
	*nmatch = matchers_build(c->deps->cfg, labels, arr, op->matchers,
				 sizeof(op->matchers));
	if (*nmatch <= 0)
		goto out;
	am_time(ts, sizeof(ts), clk->wall);
	cJSON_AddStringToObject(o, "startsAt", ts);
	am_time(ts, sizeof(ts), op->ends_at);
	cJSON_AddStringToObject(o, "endsAt", ts);
	snprintf(by, sizeof(by), "%s (Telegram user %" PRId64 ")", c->user,
		 c->user_id);
	cJSON_AddStringToObject(o, "createdBy", by);
	snprintf(note, sizeof(note), "opsbot: muted from Telegram chat %"
		 PRId64 " (alert #%" PRId64 ")", c->chat, op->alert_id);
	cJSON_AddStringToObject(o, "comment", note);
	body = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return body;
}

/* --- creating --- */

static void undo_done(void *ctx, const struct am_answer *a)
{
	const struct sil_op *op = ctx;

	if (a->ok)
		log_info("silence %s expired again: its turn was not stored",
			 op->silence_id);
	else
		log_warnx("silence %s (not stored) could not be expired "
			  "again: %s", op->silence_id, a->error);
}

/* Expires a silence opsbot could not record; logged either way. */
static void silence_undo(const struct cmd_deps *deps, const char *id)
{
	struct sil_op op = { .deps = deps, .kind = SIL_UNDO };
	char path[128], err[AM_MAX_ERROR];

	str_copy(op.silence_id, id, sizeof(op.silence_id));
	snprintf(path, sizeof(path), "/api/v2/silence/%s", id);
	if (am_request(deps->am, "DELETE", path, NULL, &op, sizeof(op),
		       undo_done, err, sizeof(err)) != 0)
		log_warnx("silence %s (not stored) could not be expired "
			  "again: %s", id, err);
}

/* A silence id as Alertmanager makes them: a UUID. */
static int silence_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n >= 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F') || *s == '-'))
			return 0;
	return 1;
}

static void created_reply(const struct cmd_ctx *c, const struct sil_op *op,
			  const struct silence *si)
{
	char until[32], len[32];
	struct buf b;

	if (c->chat == 0)
		return;
	until_text(until, sizeof(until), si->ends_at, c->deps->clk->wall);
	fmt_duration(len, sizeof(len), op->dur);
	buf_init(&b, CMD_REPLY_MAX);
	buf_printf(&b, "🔕 Silenced in Alertmanager until %s (%s): ", until,
		   len);
	cmd_escape_short(&b, si->matchers, 600);
	buf_printf(&b, ", by ");
	html_escape(&b, c->user, strlen(c->user), 0);
	buf_printf(&b, ".\n");
	if (si->url[0]) {
		buf_printf(&b, "<a href=\"");
		html_escape(&b, si->url, strlen(si->url), 1);
		buf_printf(&b, "\">Silence s%" PRId64 "</a> in Alertmanager. ",
			   si->id);
	}
	buf_printf(&b, "/unmute s%" PRId64 " ends it.", si->id);
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}

static void create_done(void *ctx, const struct am_answer *a)
{
	const struct sil_op *op = ctx;
	const struct cmd_deps *deps = op->deps;
	struct silence si = { 0 };
	struct cmd_ctx c;
	cJSON *r = NULL;
	const cJSON *id;

	op_ctx(op, &c);
	if (!a->ok) {
		log_warnx("silence for alert #%" PRId64 " refused: %s",
			  op->alert_id, a->error);
		reply2(&c, "⚠️ Alertmanager did not create the silence; "
		       "nothing was silenced. ", a->error);
		return;
	}
	r = cJSON_ParseWithLength(a->body, a->len);
	id = cJSON_GetObjectItemCaseSensitive(r, "silenceID");
	if (!cJSON_IsString(id) || !silence_id_ok(id->valuestring)) {
		reply2(&c, "⚠️ Alertmanager answered without a silence id: ",
		       a->url);
		cJSON_Delete(r);
		return;
	}
	str_copy(si.silence_id, id->valuestring, sizeof(si.silence_id));
	cJSON_Delete(r);
	str_copy(si.peer, a->url, sizeof(si.peer));
	si.alert_id = op->alert_id;
	str_copy(si.matchers, op->matchers, sizeof(si.matchers));
	str_copy(si.created_by, op->user, sizeof(si.created_by));
	si.created_at = deps->clk->wall;
	si.ends_at = op->ends_at;
	snprintf(si.url, sizeof(si.url), "%s/#/silences/%s",
		 op->ext_url[0] ? op->ext_url : a->url, si.silence_id);
	if (store_silence_add(deps->store, &si) != 0) {
		log_error("recording silence %s: %s", si.silence_id,
			  store_errmsg(deps->store));
		silence_undo(deps, si.silence_id);
		reply2(&c, "⚠️ could not record the silence in the store; it "
		       "is being expired again in Alertmanager: ",
		       store_errmsg(deps->store));
		return;
	}
	if (deps->silence_turn->n < CMD_SILENCE_TURN_MAX)
		str_copy(deps->silence_turn->ids[deps->silence_turn->n++],
			 si.silence_id, sizeof(deps->silence_turn->ids[0]));
	log_info("silence s%" PRId64 " (%s) on %s for alert #%" PRId64
		 " by %" PRId64, si.id, si.silence_id, a->url, op->alert_id,
		 op->user_id);
	created_reply(&c, op, &si);
}

int cmd_silence_start(struct cmd_ctx *c, const struct alert *a, int64_t dur)
{
	struct sil_op op;
	cJSON *m = meta_of(a);
	const cJSON *labels, *ext;
	char *body, err[AM_MAX_ERROR], names[256];
	int nmatch, rc;

	op_init(&op, c, SIL_CREATE);
	op.alert_id = a->id;
	op.dur = dur;
	op.ends_at = c->deps->clk->wall + dur;
	labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	ext = cJSON_GetObjectItemCaseSensitive(m, "externalURL");
	if (cJSON_IsString(ext) && strlen(ext->valuestring) <
	    sizeof(op.ext_url) - 80 && alert_url_ok(ext->valuestring)) {
		str_copy(op.ext_url, ext->valuestring, sizeof(op.ext_url));
		while (op.ext_url[0] && op.ext_url[strlen(op.ext_url) - 1] ==
		       '/')
			op.ext_url[strlen(op.ext_url) - 1] = '\0';
	}
	body = silence_body(c, labels, &op, &nmatch);
	cJSON_Delete(m);
	if (body == NULL) {
		matcher_names(c->deps->cfg, names, sizeof(names));
		reply2(c, nmatch == 0 ? "⚠️ Nothing silenced: the alert has "
		       "none of the labels silences match on "
		       "(alertmanager.silence_matchers): " :
		       "⚠️ Nothing silenced: out of memory. ",
		       nmatch == 0 ? names : "");
		return -1;
	}
	rc = am_request(c->deps->am, "POST", "/api/v2/silences", body, &op,
			sizeof(op), create_done, err, sizeof(err));
	cJSON_free(body);
	if (rc != 0) {
		reply2(c, "⚠️ Nothing silenced: ", err);
		return -1;
	}
	return 0;
}

void cmd_silence_committed(const struct cmd_deps *deps, int ok)
{
	struct cmd_silence_turn *t = deps->silence_turn;

	if (t == NULL)
		return;
	for (size_t i = 0; !ok && i < t->n; i++)
		silence_undo(deps, t->ids[i]);
	t->n = 0;
}

/* --- expiring --- */

int cmd_silence_is_id(const char *arg)
{
	if ((arg[0] == 's' || arg[0] == 'S') && cmd_parse_id(arg + 1) > 0)
		return 1;
	return strchr(arg, '-') != NULL && silence_id_ok(arg);
}

static void expire_done(void *ctx, const struct am_answer *a)
{
	const struct sil_op *op = ctx;
	struct cmd_ctx c;
	char html[160];
	/* Alertmanager 0.25 answers 500 "silence not found" for an id it
	 * does not know (deleted, or garbage-collected after expiry). */
	int unknown = !a->ok && a->status == 500 &&
		      strstr(a->body, "not found") != NULL;

	op_ctx(op, &c);
	if (!a->ok && !unknown) {
		snprintf(html, sizeof(html), "⚠️ Alertmanager did not expire "
			 "silence s%" PRId64 ": ", op->row);
		reply2(&c, html, a->error);
		return;
	}
	if (store_silence_gone(op->deps->store, op->row) != 0) {
		reply2(&c, "⚠️ could not update the store: ",
		       store_errmsg(op->deps->store));
		return;
	}
	log_info("silence s%" PRId64 " (%s) expired by %" PRId64 "%s",
		 op->row, op->silence_id, op->user_id,
		 unknown ? " (unknown to Alertmanager)" : "");
	snprintf(html, sizeof(html), unknown ? "🔔 Silence s%" PRId64 " was "
		 "already gone from Alertmanager: " : "🔔 Silence s%" PRId64
		 " expired in Alertmanager: ", op->row);
	reply2(&c, html, op->matchers);
}

void cmd_silence_expire(struct cmd_ctx *c, const char *arg)
{
	struct silence si;
	struct sil_op op;
	char path[128], err[AM_MAX_ERROR];
	int64_t row = (arg[0] == 's' || arg[0] == 'S') ?
		      cmd_parse_id(arg + 1) : 0;
	int rc;

	if (c->deps->am == NULL) {
		cmd_reply(c, "No Alertmanager is configured "
			  "(alertmanager.urls): /mutes lists local mutes.");
		return;
	}
	rc = store_silence_get(c->deps->store, row, row ? NULL : arg, &si);
	if (rc < 0) {
		cmd_reply(c, "⚠️ could not read the store");
		return;
	}
	if (rc == 0) {
		reply2(c, "No silence made by opsbot is called ", arg);
		return;
	}
	op_init(&op, c, SIL_EXPIRE);
	op.row = si.id;
	str_copy(op.silence_id, si.silence_id, sizeof(op.silence_id));
	str_copy(op.matchers, si.matchers, sizeof(op.matchers));
	snprintf(path, sizeof(path), "/api/v2/silence/%s", si.silence_id);
	if (am_request(c->deps->am, "DELETE", path, NULL, &op, sizeof(op),
		       expire_done, err, sizeof(err)) != 0)
		reply2(c, "⚠️ Nothing expired: ", err);
}

/* --- listing --- */

/* The state Alertmanager gives silence id in a GET /api/v2/silences
 * answer, and its end; NULL when it is not there. */
static const char *listed_state(const cJSON *list, const char *id,
				int64_t *ends)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, list) {
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(s, "id");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(s, "endsAt");

		if (!cJSON_IsString(sid) || strcmp(sid->valuestring, id) != 0)
			continue;
		st = cJSON_GetObjectItemCaseSensitive(st, "state");
		if (cJSON_IsString(e))
			*ends = am_time_parse(e->valuestring);
		return cJSON_IsString(st) ? st->valuestring : "unknown";
	}
	return NULL;
}

/* One line of a silence; list NULL: Alertmanager could not be read. */
static void silence_line(const struct cmd_ctx *c, struct buf *b,
			 const struct silence *si, const cJSON *list)
{
	int64_t wall = c->deps->clk->wall, ends = si->ends_at;
	const char *state = list ? listed_state(list, si->silence_id, &ends) :
			    "active";
	char left[32];
	int gone = state == NULL || strcmp(state, "expired") == 0;

	buf_printf(b, "s%" PRId64 " ", si->id);
	cmd_escape_short(b, si->matchers, 200);
	if (gone) {
		buf_printf(b, ": %s in Alertmanager", state ? "expired" :
			   "deleted or unknown");
		if (store_silence_gone(c->deps->store, si->id) != 0)
			buf_printf(b, " (store not updated)");
	} else {
		fmt_duration(left, sizeof(left), ends > wall ? ends - wall : 0);
		buf_printf(b, ": %s, %s left, by ", state, left);
		html_escape(b, si->created_by, strlen(si->created_by), 0);
		if (si->url[0]) {
			buf_printf(b, " <a href=\"");
			html_escape(b, si->url, strlen(si->url), 1);
			buf_printf(b, "\">open</a>");
		}
	}
	buf_printf(b, "\n");
}

static void list_done(void *ctx, const struct am_answer *a)
{
	const struct sil_op *op = ctx;
	struct silence si[SIL_LISTED];
	struct cmd_ctx c;
	struct buf b;
	cJSON *list = a->ok ? cJSON_ParseWithLength(a->body, a->len) : NULL;
	int n;

	op_ctx(op, &c);
	buf_init(&b, CMD_REPLY_MAX);
	cmd_mutes_render(&c, &b);
	n = store_silences(op->deps->store, op->deps->clk->wall, si,
			   ARRAY_LEN(si));
	buf_printf(&b, "\n🔕 <b>Alertmanager silences by opsbot</b>\n");
	if (!cJSON_IsArray(list)) {
		buf_printf(&b, "⚠️ could not read them back: ");
		cmd_escape_short(&b, a->ok ? "the answer is not a list" :
				 a->error, 600);
		buf_printf(&b, "\nAs recorded here:\n");
		cJSON_Delete(list);
		list = NULL;
	}
	for (int i = 0; i < n && b.len + 600 < b.max; i++)
		silence_line(&c, &b, &si[i], list);
	if (n < 0)
		buf_printf(&b, "⚠️ could not read the store\n");
	cJSON_Delete(list);
	if (b.data)
		cmd_reply(&c, b.data);
	buf_free(&b);
}

int cmd_silence_list(struct cmd_ctx *c)
{
	struct silence si[1];
	struct sil_op op;
	char err[AM_MAX_ERROR];

	if (c->deps->am == NULL ||
	    store_silences(c->deps->store, c->deps->clk->wall, si, 1) <= 0)
		return 0;
	op_init(&op, c, SIL_LIST);
	if (am_request(c->deps->am, "GET", "/api/v2/silences", NULL, &op,
		       sizeof(op), list_done, err, sizeof(err)) != 0) {
		struct am_answer a = { .ok = 0, .peer = -1, .url = "",
				       .body = "", .error = err };

		list_done(&op, &a);
	}
	return 1;
}
