/*
 * commands.c - the operator command table, and what happens to one
 * Telegram update: parse "/cmd[@Bot] args", check who is asking and
 * where, then run the handler. See commands.h for the authorisation rule.
 */
#include "commands/commands.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/chats.h"
#include "bot/config.h"
#include "bot/outbox.h"
#include "bot/stats.h"
#include "bot/log.h"
#include "bot/util.h"

static const struct command table[] = {
	{ "start", CMD_READ, cmd_help_run, "", "what this bot does" },
	{ "help", CMD_READ, cmd_help_run, "", "list the commands" },
	{ "status", CMD_READ, cmd_status_run, "",
	  "health: Telegram API, queue, sends, mutes" },
	{ "alerts", CMD_READ, cmd_alerts_run, "[N] [severity] [source]",
	  "last alerts and where each was delivered" },
	{ "alert", CMD_READ, cmd_alert_run, "ID",
	  "one alert in full, with its deliveries" },
	{ "retry_now", CMD_ADMIN, cmd_retry_run, "[ID]",
	  "retry failed and waiting deliveries now" },
	{ "mute", CMD_ADMIN, cmd_mute_run, "DURATION [source|severity|#ID]",
	  "hold alerts for a while (e.g. 30m, 2h, 1d)" },
	{ "unmute", CMD_ADMIN, cmd_unmute_run, "ID|sN|all",
	  "end a mute or a silence" },
	{ "mutes", CMD_READ, cmd_mutes_run, "", "list active mutes" },
	{ "ack", CMD_ADMIN, cmd_ack_run, "ID...",
	  "acknowledge alerts (ids or ranges: 12 15-18)" },
};

size_t commands_count(void)
{
	return ARRAY_LEN(table);
}

const struct command *commands_at(size_t i)
{
	return i < ARRAY_LEN(table) ? &table[i] : NULL;
}

int commands_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > CMD_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return 0;
	return 1;
}

const struct command *commands_find(const char *name, size_t len)
{
	char key[CMD_MAX_NAME + 1];

	if (len == 0 || len > CMD_MAX_NAME)
		return NULL;
	/* Names are registered with '_' (Telegram refuses '-'), but people
	 * type /retry-now by hand. */
	for (size_t i = 0; i < len; i++)
		key[i] = name[i] == '-' ? '_' :
			 (char)tolower((unsigned char)name[i]);
	key[len] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (strcmp(table[i].name, key) == 0)
			return &table[i];
	return NULL;
}

/* --- helpers for the handlers --- */

void cmd_reply(const struct cmd_ctx *c, const char *html)
{
	if (outbox_reply(c->deps->outbox, c->chat, c->thread, html, NULL,
			 c->message_id) != 0)
		log_warnx("reply to /%s in chat %" PRId64 " dropped: queue "
			  "full", c->name ? c->name : "?", c->chat);
}

static int is_cont(unsigned char ch)
{
	return (ch & 0xC0) == 0x80;
}

int cmd_escape_short(struct buf *out, const char *s, size_t maxcp)
{
	size_t i = 0, cps = 0, end;

	if (s == NULL)
		return 0;
	/* A listing shows one line per alert: stop at the first newline. */
	end = strcspn(s, "\r\n");
	while (i < end && cps < maxcp) {
		i++;
		while (i < end && is_cont((unsigned char)s[i]))
			i++;
		cps++;
	}
	if (html_escape(out, s, i, 0) != 0)
		return -1;
	if (s[i] != '\0')
		return buf_append(out, "…", strlen("…"));
	return 0;
}

/* Copies at most maxcp code points of s (UTF-8 safe). */
static void short_copy(char *dst, size_t size, const char *s, size_t maxcp)
{
	size_t i = 0, cps = 0, n = strlen(s);

	while (i < n && cps < maxcp && i + 4 < size) {
		i++;
		while (i < n && is_cont((unsigned char)s[i]))
			i++;
		cps++;
	}
	memcpy(dst, s, i);
	dst[i] = '\0';
	if (i < n && i + 4 <= size)
		strcat(dst, "…");
}

void cmd_delivery_state(const struct delivery *dl, int64_t wall, char *dst,
			size_t size, size_t errmax)
{
	char err[160], in[32];

	short_copy(err, sizeof(err), dl->last_error, errmax);
	switch (dl->state) {
	case DS_SENT:
		snprintf(dst, size, "sent");
		break;
	case DS_RETRYING:
		fmt_duration(in, sizeof(in), dl->due_at - wall);
		snprintf(dst, size, "retrying #%d in %s%s%s", dl->attempts, in,
			 err[0] ? ": " : "", err);
		break;
	case DS_FAILED:
		snprintf(dst, size, "failed%s%s", err[0] ? ": " : "", err);
		break;
	case DS_MUTED:
		snprintf(dst, size, "muted");
		break;
	case DS_SUPPRESSED:
		snprintf(dst, size, "repeat");
		break;
	case DS_SENDING:
		snprintf(dst, size, "sending");
		break;
	default:
		snprintf(dst, size, "queued");
		break;
	}
}

int64_t cmd_parse_id(const char *s)
{
	char *end;
	long long v;

	if (s == NULL)
		return -1;
	if (*s == '#')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	return v;
}

/* --- reading an update --- */

static const cJSON *obj_get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int64_t obj_int(const cJSON *o, const char *key)
{
	const cJSON *v = obj_get(o, key);

	/* Ids are below 2^53: a double holds them exactly. */
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *obj_str(const cJSON *o, const char *key)
{
	const cJSON *v = obj_get(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Printable ASCII only: names come from strangers and go to the log. */
static void log_safe(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 1 < size; s++)
		dst[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[n] = '\0';
}

/* "@username", else the first name, else the id: what acks and mutes
 * record as their author. */
static void sender_name(const cJSON *from, char *dst, size_t size)
{
	const char *u = obj_str(from, "username");
	const char *f = obj_str(from, "first_name");

	if (u && *u) {
		dst[0] = '@';
		short_copy(dst + 1, size - 1, u, size - 6);
	} else if (f && *f) {
		short_copy(dst, size, f, 32);
	} else {
		snprintf(dst, size, "%" PRId64, obj_int(from, "id"));
	}
}

/* A configured destination, or the supergroup one became. */
static int chat_configured(const struct cmd_deps *deps, int64_t chat)
{
	const struct config *cfg = deps->cfg;

	if (config_is_chat(cfg, chat))
		return 1;
	for (size_t i = 0; i < cfg->nchats; i++)
		if (chats_resolve(deps->chats, cfg->chats[i]) == chat)
			return 1;
	for (size_t r = 0; r < cfg->nroutes; r++)
		for (size_t i = 0; i < cfg->routes[r].nchats; i++)
			if (chats_resolve(deps->chats,
					  cfg->routes[r].chats[i]) == chat)
				return 1;
	return 0;
}

/* 1 if a refusal may go now: fewer than CMD_REFUSE_BUDGET went in the
 * last CMD_REFUSE_BUDGET_MS, whoever they went to. Taken when it says 1. */
static int refuse_budget(struct cmd_env *env)
{
	int64_t now = env->deps->clk->now;
	int64_t *oldest = &env->refusals[env->refusals_next];

	if (*oldest != 0 && now - *oldest < CMD_REFUSE_BUDGET_MS) {
		env->refusals_skipped++;
		return 0;
	}
	*oldest = now;
	env->refusals_next = (env->refusals_next + 1) % CMD_REFUSE_BUDGET;
	return 1;
}

/* 1 if this stranger should be told (once per 10 minutes per user, in a
 * bounded table, and within the global budget: strangers must not make
 * us spend the rate limits). */
static int refuse_due(struct cmd_env *env, int64_t user)
{
	int64_t now = env->deps->clk->now;
	size_t oldest = 0;

	for (size_t i = 0; i < CMD_REFUSED_MAX; i++)
		if (env->refused[i].user == user &&
		    now - env->refused[i].at < CMD_REFUSE_EVERY_MS)
			return 0;
	if (!refuse_budget(env))
		return 0;
	for (size_t i = 0; i < CMD_REFUSED_MAX; i++) {
		if (env->refused[i].user == user) {
			env->refused[i].at = now;
			return 1;
		}
		/* empty slots (user 0) first, then the least recent */
		if (env->refused[oldest].user != 0 &&
		    (env->refused[i].user == 0 ||
		     env->refused[i].at < env->refused[oldest].at))
			oldest = i;
	}
	env->refused[oldest].user = user;
	env->refused[oldest].at = now;
	return 1;
}

static void refuse(struct cmd_env *env, const struct cmd_ctx *c,
		   const cJSON *from, const char *what)
{
	char uname[64];

	env->denied++;
	log_safe(uname, sizeof(uname), obj_str(from, "username"));
	if (!refuse_due(env, c->user_id)) {
		log_debug("ignoring %s from unauthorised user %" PRId64, what,
			  c->user_id);
		return;
	}
	log_warnx("refused %s from unauthorised user %" PRId64 " (@%s) in "
		  "chat %" PRId64, what, c->user_id, uname, c->chat);
	cmd_reply(c, "⛔ not authorised");
}

/* Splits "/name@bot args" into its parts; 0 if it is not a command for
 * us (not a command, or one addressed to another bot). */
static int parse_command(const struct cmd_env *env, const char *text,
			 const char **name, size_t *nlen, const char **args)
{
	const char *p = text + 1, *at, *end;
	size_t alen;

	if (text[0] != '/')
		return 0;
	*name = p;
	*nlen = strcspn(p, " \t\r\n@");
	if (*nlen == 0)
		return 0;
	at = p + *nlen;
	end = at + strcspn(at, " \t\r\n");
	if (*at == '@') {
		alen = (size_t)(end - at - 1);
		if (env->bot_name[0] && (alen != strlen(env->bot_name) ||
		    strncasecmp(at + 1, env->bot_name, alen) != 0))
			return 0;
	}
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	*args = end;
	return 1;
}

static void run_command(struct cmd_env *env, struct cmd_ctx *c,
			const cJSON *from, const char *name, size_t nlen,
			const char *rawargs)
{
	const struct command *cmd = commands_find(name, nlen);
	char args[CMD_MAX_ARGS + 1], logargs[CMD_MAX_ARGS + 1], html[160];
	size_t alen = strlen(rawargs);

	if (cmd == NULL) {
		cmd_reply(c, "Unknown command. /help lists what I can do.");
		stats_command(c->deps->stats, "unknown", ST_CMD_REFUSED);
		return;
	}
	c->name = cmd->name;
	if (cmd->access == CMD_ADMIN && !c->admin) {
		stats_command(c->deps->stats, cmd->name, ST_CMD_REFUSED);
		char uname[64];

		env->denied++;
		log_safe(uname, sizeof(uname), obj_str(from, "username"));
		log_warnx("refused /%s from viewer %" PRId64 " (@%s) in chat "
			  "%" PRId64, cmd->name, c->user_id, uname, c->chat);
		snprintf(html, sizeof(html), "⛔ not authorised: /%s is for "
			 "admins", cmd->name);
		cmd_reply(c, html);
		return;
	}
	while (alen > 0 && isspace((unsigned char)rawargs[alen - 1]))
		alen--;
	if (alen > CMD_MAX_ARGS) {
		cmd_reply(c, "Arguments too long.");
		stats_command(c->deps->stats, cmd->name, ST_CMD_REFUSED);
		return;
	}
	memcpy(args, rawargs, alen);
	args[alen] = '\0';
	c->args = args;
	env->handled++;
	log_safe(logargs, sizeof(logargs), args);
	log_info("/%s%s%s by %" PRId64 " in chat %" PRId64, cmd->name,
		 alen ? " " : "", logargs, c->user_id, c->chat);
	c->result = ST_CMD_OK;
	cmd->run(c);
	stats_command(c->deps->stats, cmd->name, (enum stat_cmd_result)c->result);
}

static void handle_message(struct cmd_env *env, const cJSON *m)
{
	const struct cmd_deps *d = env->deps;
	const cJSON *chat = obj_get(m, "chat"), *from = obj_get(m, "from");
	const char *text = obj_str(m, "text"), *type, *name, *args;
	struct cmd_ctx c = { .deps = d, .args = "" };
	size_t nlen;

	if (text == NULL || !cJSON_IsObject(chat) || !cJSON_IsObject(from))
		return;
	/* A forwarded command is someone else's words: run as the
	 * forwarder, an admin forwarding a stranger's /mute would mute. */
	if (obj_get(m, "forward_origin") || obj_get(m, "forward_date") ||
	    obj_get(m, "forward_from") || obj_get(m, "forward_from_chat")) {
		log_debug("ignoring a forwarded message");
		return;
	}
	if (strlen(text) > CMD_MAX_TEXT) {
		log_debug("ignoring a message of %zu bytes", strlen(text));
		return;
	}
	if (!parse_command(env, text, &name, &nlen, &args))
		return;
	c.chat = obj_int(chat, "id");
	c.thread = obj_int(m, "message_thread_id");
	c.message_id = obj_int(m, "message_id");
	c.user_id = obj_int(from, "id");
	sender_name(from, c.user, sizeof(c.user));
	type = obj_str(chat, "type");
	if ((type == NULL || strcmp(type, "private") != 0) &&
	    !chat_configured(d, c.chat)) {
		log_debug("ignoring a command in unconfigured chat %" PRId64,
			  c.chat);
		return;
	}
	/* Configured-chat members who are not listed are refused too. */
	if (config_is_admin(d->cfg, c.user_id))
		c.admin = 1;
	else if (!config_is_viewer(d->cfg, c.user_id)) {
		refuse(env, &c, from, "a command");
		return;
	}
	run_command(env, &c, from, name, nlen, args);
}

static void handle_callback(struct cmd_env *env, const cJSON *q)
{
	const struct cmd_deps *d = env->deps;
	const cJSON *from = obj_get(q, "from"), *m = obj_get(q, "message");
	const char *id = obj_str(q, "id"), *data = obj_str(q, "data");
	struct cmd_ctx c = { .deps = d, .args = "", .name = "button" };
	const char *answer;

	if (id == NULL || !cJSON_IsObject(from))
		return;
	c.user_id = obj_int(from, "id");
	sender_name(from, c.user, sizeof(c.user));
	if (cJSON_IsObject(m)) {
		c.chat = obj_int(obj_get(m, "chat"), "id");
		c.message_id = obj_int(m, "message_id");
		c.thread = obj_int(m, "message_thread_id");
	}
	/* Buttons change state: admins only. The answer always goes, or
	 * the client keeps spinning. */
	if (!config_is_admin(d->cfg, c.user_id)) {
		char uname[64];

		env->denied++;
		log_safe(uname, sizeof(uname), obj_str(from, "username"));
		log_warnx("refused a button from unauthorised user %" PRId64
			  " (@%s) in chat %" PRId64, c.user_id, uname, c.chat);
		/* Always answered: an answer to a press is not a message
		 * (no chat's or group's budget), and without it the
		 * stranger's client spins. */
		outbox_answer_callback(d->outbox, id, "⛔ not authorised");
		return;
	}
	c.admin = 1;
	env->handled++;
	answer = cmd_ack_button(&c, data ? data : "");
	outbox_answer_callback(d->outbox, id, answer);
}

void commands_handle_update(struct cmd_env *env, const cJSON *update)
{
	const cJSON *m;

	if (cJSON_IsObject(m = obj_get(update, "message")))
		handle_message(env, m);
	else if (cJSON_IsObject(m = obj_get(update, "callback_query")))
		handle_callback(env, m);
	else
		log_debug("ignoring update %" PRId64 " of another kind",
			  obj_int(update, "update_id"));
}
