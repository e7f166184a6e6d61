/*
 * commands.h - the operator command table and the handling of one
 * Telegram update (a message or an inline button press): parsing,
 * authorisation, and the handlers in commands/cmd_*.c.
 *
 * Who may command: config admins may run everything and viewers the
 * read-only commands, in a private chat with the bot or in a configured
 * chat. Members of a configured chat who are neither are NOT authorised:
 * being in an alert chat is not a reason to change what it receives.
 * They are told so at most once per 10 minutes each, and at most
 * CMD_REFUSE_BUDGET times a minute all together; the rest is ignored.
 * A stranger's button press is always answered "not authorised" (an
 * answer is not a message) and changes nothing.
 * Handlers answer through the outbox (queued, rate-limited, sent only
 * after the turn's commit) and never call Telegram themselves.
 */
#ifndef OPSBOT_COMMANDS_H
#define OPSBOT_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

struct alert;
struct amclient;
struct buf;
struct chats;
struct clock;
struct cJSON;
struct config;
struct delivery;
struct dispatch;
struct mute;
struct mutes;
struct outbox;
struct stats;
struct store;

/* Silences created in the current turn: expired again if its commit
 * fails (cmd_silence_committed), so none exists that opsbot forgot. */
#define CMD_SILENCE_TURN_MAX 16
struct cmd_silence_turn {
	size_t n;
	char ids[CMD_SILENCE_TURN_MAX][64];
};

/* What the commands work with; every pointer outlives the commands. */
struct cmd_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;
	struct outbox *outbox;     /* every answer goes here */
	struct dispatch *dispatch; /* re-render after an ack, /retry_now */
	struct chats *chats;
	struct mutes *mutes;
	struct stats *stats;       /* commands by name and result */
	/* The status report (caller deletes it). */
	struct cJSON *(*status)(void *arg);
	void *status_arg;
	/* Alertmanager's API (alertmanager.urls), or NULL: then every mute
	 * is local. */
	struct amclient *am;
	struct cmd_silence_turn *silence_turn; /* with am */
};

#define CMD_MAX_TEXT 4096    /* longer messages are ignored (bytes) */
#define CMD_MAX_ARGS 256     /* argument bytes a command accepts */
#define CMD_MAX_NAME 32      /* Telegram's limit on command names */
#define CMD_REFUSED_MAX 32   /* strangers remembered for the refusal limit */
#define CMD_REFUSE_EVERY_MS (10 * 60 * 1000)
/* Refusals to strangers in all, whoever they are: 40 strangers taking
 * turns must not spend the rate limits alerts need. */
#define CMD_REFUSE_BUDGET 5
#define CMD_REFUSE_BUDGET_MS (60 * 1000)
#define CMD_REPLY_MAX 4096   /* bytes of one reply's HTML before fitting */

enum cmd_access { CMD_READ = 0, CMD_ADMIN = 1 };

/* Who sent a command and where to answer. */
struct cmd_ctx {
	const struct cmd_deps *deps;
	int64_t chat;        /* chat to answer in */
	int64_t thread;      /* message_thread_id, 0 = none */
	int64_t message_id;  /* the command's message: replies quote it */
	int64_t user_id;
	char user[64];       /* "@name", else first name, else the id */
	int admin;           /* 1 admin, 0 viewer */
	const char *name;    /* the command, as in the table */
	const char *args;    /* after the name, trimmed; "" if none */
	int result;          /* enum stat_cmd_result; handlers set REFUSED
				or ERROR, OK by default */
};

struct command {
	const char *name;    /* registered name: 1-32 of [a-z0-9_] */
	enum cmd_access access;
	void (*run)(struct cmd_ctx *c);
	const char *usage;   /* arguments, for /help ("" if none) */
	const char *help;    /* one line, also the setMyCommands description */
};

/* The poller's memory across updates: the bot's own name (for
 * /cmd@BotName) and when each stranger was last told off. */
struct cmd_env {
	const struct cmd_deps *deps;
	char bot_name[64];   /* username without '@'; "" until getMe */
	struct {
		int64_t user;
		int64_t at;  /* monotonic ms */
	} refused[CMD_REFUSED_MAX];
	/* When the last CMD_REFUSE_BUDGET refusals went (mono ms, a ring) */
	int64_t refusals[CMD_REFUSE_BUDGET];
	size_t refusals_next;
	uint64_t refusals_skipped; /* refusals not sent: budget spent */
	uint64_t handled;    /* commands run */
	uint64_t denied;     /* updates refused */
};

/* --- the table (commands.c) --- */

size_t commands_count(void);
const struct command *commands_at(size_t i);
/* Case-insensitive lookup; "retry-now" finds retry_now. NULL if none. */
const struct command *commands_find(const char *name, size_t len);
/* 1 if name is a valid Bot API command name. */
int commands_name_valid(const char *name);

/* Handles one element of getUpdates' result. Never fails: what cannot be
 * handled is ignored (and logged). */
void commands_handle_update(struct cmd_env *env, const struct cJSON *update);

/* --- helpers shared by the handlers (commands.c) --- */

/* Queues html as the answer to the command. */
void cmd_reply(const struct cmd_ctx *c, const char *html);
/* Appends s escaped, cut to at most maxcp code points ("…" when cut). */
int cmd_escape_short(struct buf *out, const char *s, size_t maxcp);
/* A delivery's state in a few words of plain text (caller escapes):
 * "sent", "retrying #3 in 40s: HTTP 502", "failed: chat not found",
 * "muted", "repeat". errmax caps the quoted error (code points). */
void cmd_delivery_state(const struct delivery *dl, int64_t wall, char *dst,
			size_t size, size_t errmax);
/* Parses a positive decimal id; -1 if s is not one. */
int64_t cmd_parse_id(const char *s);

/* --- handlers (commands/cmd_*.c) --- */

void cmd_help_run(struct cmd_ctx *c);
void cmd_status_run(struct cmd_ctx *c);
/* /status from daemon_status_json's object; pure, for tests. */
int cmd_status_render(const struct cJSON *status, struct buf *out);
void cmd_alerts_run(struct cmd_ctx *c);
void cmd_alert_run(struct cmd_ctx *c);
void cmd_retry_run(struct cmd_ctx *c);
void cmd_mute_run(struct cmd_ctx *c);
void cmd_unmute_run(struct cmd_ctx *c);
void cmd_mutes_run(struct cmd_ctx *c);
/* Stores mute m (scope filled in) for dur ms from now (it applies after
 * the turn's commit) and replies with its id and end. 0; 1 if as many
 * mutes are active as can be applied (nothing stored); -1 on a store
 * error. */
int cmd_mute_add(struct cmd_ctx *c, struct mute *m, int64_t dur);
/* Mutes what alert id is about for dur ms: an Alertmanager silence for
 * an alert that came from Alertmanager (when am is set), else a local
 * mute of its source. Replies in the chat; returns the short text for a
 * button's answer. */
const char *cmd_mute_alert(struct cmd_ctx *c, int64_t id, int64_t dur);
/* The local mutes, as /mutes shows them, appended to out. */
void cmd_mutes_render(const struct cmd_ctx *c, struct buf *out);
/* fnmatch pattern that matches exactly s: 0, or -1 if it does not fit. */
int cmd_glob_literal(char *dst, size_t size, const char *s);
void cmd_ack_run(struct cmd_ctx *c);
/* An inline button: data "ack:<id>" or "mute:<id>" (a single alert),
 * "ackp:<id>:<chat>" or "mutep:<id>:<chat>" (the pack in chat that
 * alert id went out in), from an admin.
 * Returns the short text for answerCallbackQuery. */
const char *cmd_ack_button(struct cmd_ctx *c, const char *data);

/* --- Alertmanager silences (commands/cmd_silence.c) --- */

/* 1 if muting a is an Alertmanager silence: am is set and a came in
 * through the Alertmanager webhook with its labels. */
int cmd_silence_applies(const struct cmd_ctx *c, const struct alert *a);
/* Asks Alertmanager for a silence of a (cmd_silence_applies) for dur ms.
 * The chat's reply follows when a peer answers, in a later turn. 0
 * started; -1 not (the reply saying why is queued). */
int cmd_silence_start(struct cmd_ctx *c, const struct alert *a,
		      int64_t dur);
/* 1 if arg names a silence: "s12" or an Alertmanager silence id. */
int cmd_silence_is_id(const char *arg);
/* /unmute sN|ID: expires it in Alertmanager; the reply follows. */
void cmd_silence_expire(struct cmd_ctx *c, const char *arg);
/* /mutes with silences to read back from Alertmanager: 1 when the
 * reply (local mutes and silences) will follow, 0 when there are none
 * (the caller answers). */
int cmd_silence_list(struct cmd_ctx *c);
/* After the turn's commit: a failed commit expires the turn's new
 * silences again. */
void cmd_silence_committed(const struct cmd_deps *deps, int ok);

#endif
