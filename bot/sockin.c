/*
 * sockin.c - the socket transport. See sockin.h.
 */
#include "bot/sockin.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"
#include "bot/config.h"
#include "bot/intake.h"
#include "bot/log.h"

#define SOCKIN_MAX_PENDING 65536 /* answers held for one commit */

/* A client's answer, held until the turn's commit. */
struct pending {
	uint64_t cid;
	int ok;     /* 1: answer ok with id once committed */
	int64_t id;
	char *text; /* else the error text, or a ready JSON line (raw) */
	int raw;
};

struct sockin {
	struct sockin_deps d;
	struct listener *l;
	struct pending *p;
	size_t n, cap;
	/* The status answer of this turn: however many status lines come
	 * in one turn, the report is built once. */
	char *status;
	uint64_t turn;       /* loop turns seen (sockin_handle) */
	uint64_t status_turn; /* the turn it was built in */
};

int sockin_open(struct sockin **out, const struct sockin_deps *deps,
		const struct listener_opts *lo, char *err, size_t errlen)
{
	struct sockin *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return err_set(err, errlen, "out of memory");
	s->d = *deps;
	if (listener_open(&s->l, lo, err, errlen) != 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

/* Queues an answer; takes text. Without memory the client gets no answer
 * for this line and will time out and resend. */
static void pending_add(struct sockin *s, uint64_t cid, int ok, int64_t id,
			char *text, int raw)
{
	struct pending *p;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;

		if (cap > SOCKIN_MAX_PENDING ||
		    (p = realloc(s->p, cap * sizeof(*p))) == NULL) {
			free(text);
			return;
		}
		s->p = p;
		s->cap = cap;
	}
	p = &s->p[s->n++];
	p->cid = cid;
	p->ok = ok;
	p->id = id;
	p->text = text;
	p->raw = raw;
}

/* Answers every client of the turn, in order: ok only if committed. */
static void pending_flush(struct sockin *s, const char *fail)
{
	for (size_t i = 0; i < s->n; i++) {
		struct pending *p = &s->p[i];
		char line[64], *json = NULL;

		if (p->raw) {
			listener_reply(s->l, p->cid, p->text);
		} else if (p->ok && fail == NULL) {
			snprintf(line, sizeof(line), "{\"ok\":true,\"id\":%lld}",
				 (long long)p->id);
			listener_reply(s->l, p->cid, line);
		} else {
			json = intake_error_json(p->ok ? fail : p->text ? p->text :
					  "error");
			if (json)
				listener_reply(s->l, p->cid, json);
		}
		free(json);
		free(p->text);
	}
	s->n = 0;
}

static void sockin_committed(void *arg, int ok)
{
	pending_flush(arg, ok ? NULL : "store: commit failed; alert not "
		      "stored");
}

static void refuse(struct sockin *s, uint64_t cid, const char *msg)
{
	intake_refused(s->d.intake, INTAKE_SOCKET);
	pending_add(s, cid, 0, 0, strdup(msg), 0);
}

/* The status answer, built at most once per turn (200 pipelined status
 * lines cost one report, not 200). Caller frees the copy. */
static char *status_line(struct sockin *s)
{
	cJSON *resp;

	if (s->status == NULL || s->status_turn != s->turn) {
		free(s->status);
		resp = cJSON_CreateObject();
		cJSON_AddTrueToObject(resp, "ok");
		cJSON_AddItemToObject(resp, "status",
				      s->d.status(s->d.status_arg));
		s->status = cJSON_PrintUnformatted(resp);
		s->status_turn = s->turn;
		cJSON_Delete(resp);
	}
	return s->status ? strdup(s->status) : NULL;
}

/* {"command":"status"}: a ready JSON answer, or NULL if not a command
 * this daemon knows (then it is parsed as an alert, and refused). */
static char *control(struct sockin *s, const char *line, size_t len)
{
	cJSON *req = cJSON_ParseWithLength(line, len);
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "command");
	char *out = NULL;

	if (cJSON_IsString(cmd) && strcmp(cmd->valuestring, "status") == 0)
		out = status_line(s);
	cJSON_Delete(req);
	return out;
}

/* Cheap test first: this runs per line. */
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

static void on_line(void *arg, uint64_t cid, const struct peer *peer,
		    const char *line, size_t len)
{
	struct sockin *s = arg;
	struct intake_origin o = { INTAKE_SOCKET, peer->uid, peer->pid };
	struct alert a;
	char err[256], *raw;

	if (line == NULL) {
		snprintf(err, sizeof(err), "line: longer than %zu bytes",
			 s->d.cfg->max_line);
		refuse(s, cid, err);
		return;
	}
	if (!peer_allowed(s->d.cfg, peer)) {
		log_warnx("refused alert from uid %lld pid %lld: not in "
			  "socket.allowed_uids", (long long)peer->uid,
			  (long long)peer->pid);
		snprintf(err, sizeof(err), "peer: uid %lld may not send alerts",
			 (long long)peer->uid);
		refuse(s, cid, err);
		return;
	}
	if (is_control(line, len) && (raw = control(s, line, len)) != NULL) {
		pending_add(s, cid, 0, 0, raw, 1);
		return;
	}
	if (alert_parse(line, len, &a, err, sizeof(err)) != 0) {
		refuse(s, cid, err);
		return;
	}
	if (intake_submit(s->d.intake, &a, &o, err, sizeof(err)) != 0)
		pending_add(s, cid, 0, 0, strdup(err), 0);
	else
		pending_add(s, cid, 1, a.id, NULL, 0);
	alert_free(&a);
}

static size_t sockin_pollfds(void *arg, struct pollfd *fds, size_t max)
{
	struct sockin *s = arg;

	return listener_pollfds(s->l, fds, max);
}

static void sockin_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct sockin *s = arg;

	s->turn++;
	listener_handle(s->l, fds, n, s->d.clk->now, on_line, s);
}

static int64_t sockin_next(void *arg)
{
	struct sockin *s = arg;

	if (listener_backlog(s->l))
		return s->d.clk->now; /* lines left for the next turn */
	return listener_next_deadline(s->l);
}

void sockin_source(struct sockin *s, struct loop_source *src)
{
	memset(src, 0, sizeof(*src));
	src->name = "socket";
	src->arg = s;
	src->maxfds = (size_t)s->d.cfg->max_clients + 1; /* + the listener */
	src->pollfds = sockin_pollfds;
	src->handle = sockin_handle;
	src->next = sockin_next;
	src->committed = sockin_committed;
}

void sockin_stop(struct sockin *s)
{
	listener_stop(s->l);
}

void sockin_close(struct sockin *s)
{
	if (s == NULL)
		return;
	pending_flush(s, "shutting down");
	listener_close(s->l);
	free(s->p);
	free(s->status);
	free(s);
}

void sockin_get_stats(const struct sockin *s, struct listener_stats *st)
{
	listener_get_stats(s->l, st);
}
