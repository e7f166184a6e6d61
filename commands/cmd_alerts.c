/*
 * cmd_alerts.c - /alerts [N] [severity] [source-glob]: the newest alerts,
 * one line each with where they went; /alert ID: one alert in full with
 * every delivery's state. Replies are cut to Telegram's 4096-unit limit.
 *
 * What a chat may see: in a group, only alerts routed to that group (a
 * delivery row to it) and only its own delivery, since every member
 * reads the answer and routes may keep some alerts to other, restricted
 * chats. In a private chat the only reader is the asker, an admin or a
 * viewer of the whole configuration: everything is listed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/config.h"
#include "bot/util.h"
#include "commands/commands.h"

#define ALERTS_DEFAULT 10
#define ALERTS_MAX 50
#define ALERTS_STATES 6      /* distinct states shown per line */
#define ALERTS_BUF (32 << 10)
#define ALERTS_TAIL 40       /* units kept free for "… N more" */
#define ALERTS_TITLE 48      /* code points of a title in a listing */
#define ALERTS_GLOB 128      /* bytes of a source glob */

struct state_count {
	char text[128];
	int n;
};

/* Reads "[N] [severity] [source-glob]" in any order: a number is N, a
 * severity name the severity, anything else the source glob (fnmatch,
 * as /mute). 0 ok, -1 bad arguments. */
static int alerts_args(const char *args, int *n, int *sev, char *glob,
		       size_t globlen)
{
	char tmp[CMD_MAX_ARGS + 1], *save = NULL, *tok;
	int ntok = 0;

	*n = ALERTS_DEFAULT;
	*sev = -1;
	glob[0] = '\0';
	str_copy(tmp, args, sizeof(tmp));
	for (tok = strtok_r(tmp, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		int64_t v = cmd_parse_id(tok);
		int s;

		if (++ntok > 3)
			return -1;
		if (v > 0)
			*n = v > ALERTS_MAX ? ALERTS_MAX : (int)v;
		else if ((s = severity_parse(tok)) >= 0)
			*sev = s;
		else if (glob[0] == '\0' && strlen(tok) < globlen)
			str_copy(glob, tok, globlen);
		else
			return -1;
	}
	return 0;
}

/* Private chats (positive ids are users) see every alert; a group sees
 * only what was routed to it. */
static int sees_all(const struct cmd_ctx *c)
{
	return c->chat > 0;
}

/* Same states are counted, not repeated: "sent ×3, failed: …". */
static void alerts_states(struct cmd_ctx *c, int64_t id, struct buf *line)
{
	struct delivery dl[CONFIG_MAX_CHATS];
	struct state_count sc[ALERTS_STATES];
	size_t nsc = 0, more = 0;
	int n = store_deliveries(c->deps->store, id, dl, ARRAY_LEN(dl));
	char text[128];

	for (int i = 0; i < n; i++) {
		size_t k;

		if (!sees_all(c) && dl[i].chat_id != c->chat)
			continue;
		cmd_delivery_state(&dl[i], c->deps->clk->wall, text, sizeof(text), 40);
		for (k = 0; k < nsc; k++)
			if (strcmp(sc[k].text, text) == 0)
				break;
		if (k < nsc) {
			sc[k].n++;
		} else if (nsc < ALERTS_STATES) {
			str_copy(sc[nsc].text, text, sizeof(sc[nsc].text));
			sc[nsc++].n = 1;
		} else {
			more++;
		}
	}
	for (size_t k = 0; k < nsc; k++) {
		buf_printf(line, "%s", k ? ", " : " — ");
		html_escape(line, sc[k].text, strlen(sc[k].text), 0);
		if (sc[k].n > 1)
			buf_printf(line, " ×%d", sc[k].n);
	}
	if (more)
		buf_printf(line, ", …");
}

static void alerts_line(struct cmd_ctx *c, const struct alert *a,
			struct buf *line)
{
	char hhmm[16], by[64];
	int64_t at;

	fmt_clock(hhmm, sizeof(hhmm), a->received_at, "%H:%M");
	buf_printf(line, "%s <code>#%" PRId64 "</code> %s ",
		   format_marker(a->severity), a->id, hhmm);
	if (a->source) {
		buf_printf(line, "<b>");
		cmd_escape_short(line, a->source, 24);
		buf_printf(line, "</b> ");
	}
	if (a->status == ALERT_RESOLVED)
		buf_printf(line, "✅ ");
	cmd_escape_short(line, a->title ? a->title : a->text, ALERTS_TITLE);
	alerts_states(c, a->id, line);
	if (store_ack_get(c->deps->store, a->id, by, sizeof(by), &at) == 1) {
		buf_printf(line, ", acked by ");
		html_escape(line, by, strlen(by), 0);
	}
	buf_printf(line, "\n");
}

void cmd_alerts_run(struct cmd_ctx *c)
{
	struct alert a[ALERTS_MAX];
	struct buf out, line;
	char glob[ALERTS_GLOB];
	int n, sev, got, shown = 0;

	if (alerts_args(c->args, &n, &sev, glob, sizeof(glob)) != 0) {
		cmd_reply(c, "Usage: /alerts [N] [severity] [source-glob], "
			  "e.g. /alerts 20 error db*");
		return;
	}
	got = sees_all(c) ?
	      store_recent_match(c->deps->store, sev, glob[0] ? glob : NULL,
				 a, (size_t)n) :
	      store_recent_chat(c->deps->store, c->chat, sev,
				glob[0] ? glob : NULL, a, (size_t)n);
	if (got <= 0) {
		cmd_reply(c, got == 0 ? (glob[0] ? "No alerts from matching "
			  "sources." : "No alerts.") :
			  "⚠️ could not read the store");
		return;
	}
	buf_init(&out, ALERTS_BUF);
	buf_init(&line, ALERTS_BUF);
	for (int i = 0; i < got; i++) {
		buf_reset(&line);
		alerts_line(c, &a[i], &line);
		if (line.data == NULL || tg_visible_len(out.data ? out.data :
		    "", out.len) + tg_visible_len(line.data, line.len) >
		    TG_MAX_TEXT - ALERTS_TAIL ||
		    buf_append(&out, line.data, line.len) != 0)
			break;
		shown++;
	}
	if (shown < got)
		buf_printf(&out, "… %d more", got - shown);
	if (out.data)
		cmd_reply(c, out.data);
	for (int i = 0; i < got; i++)
		alert_free(&a[i]);
	buf_free(&line);
	buf_free(&out);
}

/* One delivery in /alert: chat, state, attempts, the full last error. */
static void alert_delivery(const struct cmd_ctx *c, const struct delivery *dl,
			   struct buf *out)
{
	char text[256], when[32];

	cmd_delivery_state(dl, c->deps->clk->wall, text, sizeof(text), 200);
	buf_printf(out, "• <code>%" PRId64 "</code>", dl->chat_id);
	if (dl->thread_id)
		buf_printf(out, " (topic %" PRId64 ")", dl->thread_id);
	buf_printf(out, ": ");
	html_escape(out, text, strlen(text), 0);
	if (dl->state == DS_SENT && dl->sent_at) {
		fmt_clock(when, sizeof(when), dl->sent_at, "%H:%M");
		buf_printf(out, " at %s", when);
	}
	buf_printf(out, "; %d attempt%s", dl->attempts,
		   dl->attempts == 1 ? "" : "s");
	/* Retrying and failed already quote the error. */
	if (dl->last_error[0] && dl->state != DS_RETRYING &&
	    dl->state != DS_FAILED) {
		buf_printf(out, "; last error: ");
		cmd_escape_short(out, dl->last_error, 200);
	}
	buf_printf(out, "\n");
}

static void alert_send(struct cmd_ctx *c, const char *body, struct buf *tail)
{
	struct buf one;

	buf_init(&one, ALERTS_BUF);
	/* One message if both fit, else the alert then its deliveries. */
	if (tg_visible_len(body, strlen(body)) +
	    tg_visible_len(tail->data, tail->len) + 2 <= TG_MAX_TEXT &&
	    buf_printf(&one, "%s\n\n%s", body, tail->data) == 0) {
		cmd_reply(c, one.data);
	} else {
		cmd_reply(c, body);
		cmd_reply(c, tail->data);
	}
	buf_free(&one);
}

static int routed_here(const struct cmd_ctx *c, const struct delivery *dl,
		       int n)
{
	for (int i = 0; i < n; i++)
		if (dl[i].chat_id == c->chat)
			return 1;
	return 0;
}

void cmd_alert_run(struct cmd_ctx *c)
{
	struct format_extra x = { 0 };
	struct delivery dl[CONFIG_MAX_CHATS];
	struct alert a;
	struct buf tail;
	char *parts[FORMAT_MAX_PARTS], by[64];
	int64_t id = cmd_parse_id(c->args);
	int n, np;

	if (id <= 0) {
		cmd_reply(c, "Usage: /alert ID (the #number in /alerts)");
		return;
	}
	n = store_deliveries(c->deps->store, id, dl, ARRAY_LEN(dl));
	if (!sees_all(c) && !routed_here(c, dl, n)) {
		/* Not said apart from "no such alert": its existence is
		 * not this group's business either. */
		cmd_reply(c, "No such alert in this chat.");
		return;
	}
	if (store_alert_get(c->deps->store, id, &a) != 1) {
		cmd_reply(c, "No such alert.");
		return;
	}
	if (store_ack_get(c->deps->store, id, by, sizeof(by), &x.acked_at) == 1)
		x.acked_by = by;
	np = format_alert(&a, &x, parts, ARRAY_LEN(parts));
	buf_init(&tail, TG_MAX_TEXT);
	buf_printf(&tail, "<b>Deliveries of #%" PRId64 "</b>", id);
	if (np > 1)
		buf_printf(&tail, " (message in %d parts, first shown)", np);
	buf_printf(&tail, "\n");
	for (int i = 0; i < n; i++)
		if (sees_all(c) || dl[i].chat_id == c->chat)
			alert_delivery(c, &dl[i], &tail);
	if (n == 0)
		buf_printf(&tail, "none\n");
	if (np > 0 && tail.data)
		alert_send(c, parts[0], &tail);
	else
		cmd_reply(c, "⚠️ could not format the alert");
	for (int i = 0; i < np; i++)
		free(parts[i]);
	buf_free(&tail);
	alert_free(&a);
}
