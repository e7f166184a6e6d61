/*
 * cmd_mute.c - /mute DURATION [source-glob|severity|#alert], /unmute
 * ID|sN|all and /mutes. A mute holds matching alerts (their deliveries
 * become MUTED) until it ends; the daemon reloads its mute list when
 * mutes_dirty is set. Muting an alert that came from Alertmanager, with
 * an Alertmanager configured, makes a silence there instead
 * (cmd_silence.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/mutes.h"
#include "bot/util.h"
#include "commands/commands.h"

#define MUTE_MAX_MS (7 * 86400000LL)
#define MUTES_LISTED 32

/* What a mute covers, in words (plain text; caller escapes). */
static void mute_scope(const struct mute *m, char *dst, size_t size)
{
	const char *sev = m->max_severity >= 0 ?
			  severity_name((enum severity)m->max_severity) : NULL;

	if (m->source[0])
		snprintf(dst, size, "source %s", m->source);
	else if (sev && m->max_severity == SEV_CRITICAL)
		snprintf(dst, size, "critical and below (all alerts)");
	else if (sev)
		snprintf(dst, size, "severity %s and below", sev);
	else
		snprintf(dst, size, "all alerts");
}

/* "14:03", or with the date when it is not within a day. */
static void mute_until(char *dst, size_t size, int64_t until, int64_t wall)
{
	fmt_clock(dst, size, until, until - wall >= 86400000LL ?
		  "%Y-%m-%d %H:%M:%S" : "%H:%M");
}

/* Fills the scope of m from "source-glob" or "severity". 0 or -1. */
static int mute_target(struct mute *m, const char *what)
{
	int sev;

	m->max_severity = -1;
	m->source[0] = '\0';
	if (what[0] == '\0')
		return 0;
	if (strpbrk(what, " \t") != NULL)
		return -1;
	if ((sev = severity_parse(what)) >= 0) {
		m->max_severity = sev;
		return 0;
	}
	if (strlen(what) >= sizeof(m->source))
		return -1;
	str_copy(m->source, what, sizeof(m->source));
	return 0;
}

int cmd_mute_add(struct cmd_ctx *c, struct mute *m, int64_t dur)
{
	struct buf b;
	char scope[sizeof(m->source) + 64], until[32], len[32];
	int rc;

	m->until = c->deps->clk->wall + dur;
	m->created_at = c->deps->clk->wall;
	m->held = 0;
	str_copy(m->created_by, c->user, sizeof(m->created_by));
	if ((rc = mutes_add(c->deps->mutes, m)) != 0)
		return rc;
	mute_scope(m, scope, sizeof(scope));
	mute_until(until, sizeof(until), m->until, c->deps->clk->wall);
	fmt_duration(len, sizeof(len), dur);
	buf_init(&b, CMD_REPLY_MAX);
	buf_printf(&b, "🔕 Mute <b>#%" PRId64 "</b> until %s (%s): ", m->id,
		   until, len);
	html_escape(&b, scope, strlen(scope), 0);
	buf_printf(&b, ", by ");
	html_escape(&b, c->user, strlen(c->user), 0);
	buf_printf(&b, ". /unmute %" PRId64 " ends it.", m->id);
	/* a button under a message too old to be shown has no chat */
	if (b.data && c->chat != 0)
		cmd_reply(c, b.data);
	buf_free(&b);
	return 0;
}

void cmd_mute_run(struct cmd_ctx *c)
{
	struct mute m = { 0 };
	char dur[32];
	const char *rest;
	size_t n = strcspn(c->args, " \t");
	int64_t ms;

	rest = c->args + n + strspn(c->args + n, " \t");
	if (n == 0 || n >= sizeof(dur)) {
		cmd_reply(c, "Usage: /mute DURATION [source|severity|#alert], "
			  "e.g. /mute 2h db*, /mute 30m warning or /mute 1h "
			  "#42");
		return;
	}
	memcpy(dur, c->args, n);
	dur[n] = '\0';
	ms = parse_duration(dur);
	if (ms <= 0 || ms > MUTE_MAX_MS) {
		cmd_reply(c, "Duration: e.g. 30m, 2h, 1d; at most 7 days.");
		return;
	}
	if (rest[0] == '#' || (rest[0] >= '0' && rest[0] <= '9' &&
			       cmd_parse_id(rest) > 0)) {
		int64_t id = cmd_parse_id(rest);

		if (id <= 0)
			cmd_reply(c, "Give the alert's number, e.g. /mute 2h "
				  "#42 (/alerts lists them).");
		else
			cmd_mute_alert(c, id, ms);
		return;
	}
	if (mute_target(&m, rest) != 0) {
		cmd_reply(c, "Give one source glob (e.g. db*) or one "
			  "severity (e.g. warning).");
		return;
	}
	switch (cmd_mute_add(c, &m, ms)) {
	case 0:
		break;
	case 1:
		cmd_reply(c, "⚠️ Too many active mutes: /mutes lists them, "
			  "/unmute one first.");
		break;
	default:
		cmd_reply(c, "⚠️ could not store the mute");
	}
}

void cmd_unmute_run(struct cmd_ctx *c)
{
	char html[128];
	int64_t id = 0;
	int n;

	if (cmd_silence_is_id(c->args)) {
		cmd_silence_expire(c, c->args);
		return;
	}
	if (strcasecmp(c->args, "all") != 0 &&
	    (id = cmd_parse_id(c->args)) <= 0) {
		cmd_reply(c, "Usage: /unmute ID|sN|all (/mutes lists them)");
		return;
	}
	n = mutes_del(c->deps->mutes, id);
	if (n < 0) {
		cmd_reply(c, "⚠️ could not update the store");
		return;
	}
	if (id && n == 0)
		snprintf(html, sizeof(html), "No mute #%" PRId64 ".", id);
	else if (id)
		snprintf(html, sizeof(html), "🔔 Mute #%" PRId64 " ended.", id);
	else
		snprintf(html, sizeof(html), "🔔 %d mute%s ended.", n,
			 n == 1 ? "" : "s");
	cmd_reply(c, html);
}

void cmd_mutes_render(const struct cmd_ctx *c, struct buf *out)
{
	struct mute m[MUTES_LISTED];
	int n = mutes_list(c->deps->mutes, m, ARRAY_LEN(m)), i;
	struct buf line;
	char scope[sizeof(m->source) + 64], left[32];

	if (n <= 0) {
		buf_printf(out, "%s\n", n == 0 ? "No active mutes." :
			   "⚠️ could not read the store");
		return;
	}
	/* Bytes bound visible length: 4096 bytes always fit a message. */
	buf_init(&line, CMD_REPLY_MAX);
	buf_printf(out, "🔕 <b>%d active mute%s</b>\n", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		buf_reset(&line);
		mute_scope(&m[i], scope, sizeof(scope));
		fmt_duration(left, sizeof(left), m[i].until - c->deps->clk->wall);
		buf_printf(&line, "#%" PRId64 " ", m[i].id);
		html_escape(&line, scope, strlen(scope), 0);
		buf_printf(&line, ": %s left, %" PRId64 " held, by ", left,
			   m[i].held);
		html_escape(&line, m[i].created_by, strlen(m[i].created_by), 0);
		buf_printf(&line, "\n");
		if (line.data == NULL || out->len + line.len + 20 > out->max ||
		    buf_append(out, line.data, line.len) != 0)
			break;
	}
	if (i < n)
		buf_printf(out, "… %d more\n", n - i);
	buf_free(&line);
}

void cmd_mutes_run(struct cmd_ctx *c)
{
	struct buf b;

	/* With silences to read back, the answer comes from Alertmanager's. */
	if (cmd_silence_list(c))
		return;
	buf_init(&b, CMD_REPLY_MAX);
	cmd_mutes_render(c, &b);
	while (b.len > 0 && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}

int cmd_glob_literal(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (strchr("*?[]\\", *s) != NULL) {
			if (n + 1 >= size)
				return -1;
			dst[n++] = '\\';
		}
		if (n + 1 >= size)
			return -1;
		dst[n++] = *s;
	}
	dst[n] = '\0';
	return 0;
}

/* Locally: the alert's source, or its severity and below when it has no
 * source. Any source fits the pattern; were one not to, this refuses
 * rather than widen the mute to a severity. */
const char *cmd_mute_alert(struct cmd_ctx *c, int64_t id, int64_t dur)
{
	struct mute m = { .max_severity = -1 };
	struct alert a;
	int rc;

	if (store_alert_get(c->deps->store, id, &a) != 1) {
		if (c->chat != 0 && strcmp(c->name ? c->name : "", "mute") == 0)
			cmd_reply(c, "No such alert (/alerts lists them).");
		return "no such alert";
	}
	if (cmd_silence_applies(c, &a)) {
		rc = cmd_silence_start(c, &a, dur);
		alert_free(&a);
		return rc == 0 ? "🔕 silencing in Alertmanager…" :
		       "⚠️ not silenced: see the chat";
	}
	if (a.source == NULL || a.source[0] == '\0') {
		m.max_severity = (int)a.severity;
	} else if (cmd_glob_literal(m.source, sizeof(m.source), a.source) != 0) {
		alert_free(&a);
		return "source too long to mute: use /mute";
	}
	alert_free(&a);
	rc = cmd_mute_add(c, &m, dur);
	if (rc != 0 && strcmp(c->name ? c->name : "", "mute") == 0)
		cmd_reply(c, rc == 1 ? "⚠️ Too many active mutes: /mutes lists "
			  "them, /unmute one first." :
			  "⚠️ could not store the mute");
	if (rc != 0)
		return rc == 1 ? "too many active mutes: /unmute one first" :
		       "could not store the mute";
	return dur == 3600000LL ? "🔕 muted for 1h" : "🔕 muted";
}
