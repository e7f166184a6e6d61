/*
 * poller.c - operator commands over long polling. A small state machine
 * in the event loop with one request in flight at a time:
 *
 *   getMe (our username, for /cmd@BotName) -> setMyCommands (from the
 *   table) -> getUpdates, again and again; deleteWebhook when Telegram
 *   says a webhook is set.
 *
 * Each update is handled, then the offset (update_id + 1) is written to
 * the store in the same loop-turn transaction as what the handler wrote;
 * replies leave only after that commit, so a restart neither loses nor
 * repeats a command; when the commit fails, the offset goes back to the
 * stored one and the commands come again. The poller never feeds the
 * circuit breaker (a long poll that times out is normal), but a 401 here
 * pauses sending too, and is retried on the API's own timer (api.h).
 */
#include "commands/poller.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"
#include "bot/api.h"
#include "bot/config.h"
#include "bot/pacing.h"
#include "bot/telegram.h"
#include "bot/log.h"
#include "bot/tgapi.h"
#include "bot/util.h"
#include "commands/commands.h"

#define POLL_LIMIT 100           /* updates per getUpdates */
#define POLL_MARGIN_S 15         /* HTTP timeout beyond the long poll */
#define POLL_BASE_MS 1000        /* backoff after failures */
#define POLL_CAP_MS 60000
#define POLL_OFFSET_KEY "poll_offset"

enum poll_step {
	STEP_GETME = 0,
	STEP_COMMANDS,
	STEP_DELHOOK,
	STEP_POLL,
};

static const char *const step_names[] = {
	"getMe", "setMyCommands", "deleteWebhook", "polling"
};

struct poller {
	struct poller_deps d;
	struct cmd_env env;
	enum poll_step step;
	int inflight;
	int64_t next_at;       /* monotonic ms the next request may start */
	int attempts;          /* consecutive failures: drives the backoff */
	int conflict;          /* in a 409 episode (warned once) */
	int64_t offset;        /* next update_id wanted */
	int64_t last_ok_wall;  /* last getUpdates that answered */
	char last_err[160];
};

static void offset_load(struct poller *p)
{
	char val[32];

	if (store_kv_get(p->d.store, POLL_OFFSET_KEY, val, sizeof(val)) == 1)
		p->offset = strtoll(val, NULL, 10);
}

struct poller *poller_new(const struct poller_deps *deps)
{
	struct poller *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->d = *deps;
	p->env.deps = deps->cmds;
	p->next_at = deps->clk->now;
	offset_load(p);
	return p;
}

void poller_committed(struct poller *p, int ok)
{
	if (!ok)
		offset_load(p);
}

void poller_free(struct poller *p)
{
	/* A request still in flight is aborted with the transfers, without
	 * calling us back, so nothing refers to p afterwards. */
	free(p);
}

int64_t poller_next(const struct poller *p)
{
	int64_t gate;

	/* poll_timeout 0 disables polling (a SIGHUP may change it). */
	if (p == NULL || p->inflight || p->d.cfg->poll_timeout <= 0)
		return INT64_MAX;
	gate = api_gate(p->d.api, API_POLL);
	return p->next_at > gate ? p->next_at : gate;
}

void poller_status(const struct poller *p, cJSON *obj)
{
	cJSON *o = cJSON_AddObjectToObject(obj, "polling");
	int64_t age;

	if (o == NULL || p == NULL)
		return;
	cJSON_AddStringToObject(o, "state", p->d.cfg->poll_timeout <= 0 ?
				"disabled" : api_kind_paused(p->d.api, API_POLL) ? "stopped" :
				step_names[p->step]);
	cJSON_AddNumberToObject(o, "offset", (double)p->offset);
	cJSON_AddNumberToObject(o, "commands", (double)p->env.handled);
	cJSON_AddNumberToObject(o, "refused", (double)p->env.denied);
	age = p->last_ok_wall ? (p->d.clk->wall - p->last_ok_wall) / 1000 : -1;
	cJSON_AddNumberToObject(o, "last_ok_age_s", (double)age);
	cJSON_AddStringToObject(o, "last_error", p->last_err);
}

/* --- outcomes --- */

static void poll_backoff(struct poller *p)
{
	p->next_at = p->d.clk->now + backoff_delay(p->attempts, POLL_BASE_MS,
						   POLL_CAP_MS, p->d.rng);
	if (p->attempts < 30)
		p->attempts++;
}

/* What every failed request has in common. Returns 1 if handled here
 * (the caller does nothing more). */
static int poll_failed(struct poller *p, const char *method,
		       const struct tg_reply *r)
{
	int capped;

	switch (api_account(p->d.api, r, API_POLL)) {
	case API_PAUSED:
		log_error("Telegram refused the bot token (401) on %s: "
			  "commands are paused and retried every 5 minutes "
			  "until it is fixed", method);
		break;
	case API_RESUMED:
		log_info("the token works again; polling for commands");
		break;
	default:
		break;
	}
	if (r->outcome == TG_OK || r->outcome == TG_NOT_MODIFIED)
		return 0;
	snprintf(p->last_err, sizeof(p->last_err), "%s: %s", method,
		 r->description);
	switch (r->outcome) {
	case TG_UNAUTHORIZED:
		return 1; /* the API's pause gates the next try */
	case TG_CONFLICT_WEBHOOK:
		/* Keep the pending updates: they are operators' commands. */
		log_warnx("a webhook is set for this bot; deleting it to poll");
		p->step = STEP_DELHOOK;
		p->next_at = p->d.clk->now;
		return 1;
	case TG_CONFLICT_POLL:
		if (!p->conflict)
			log_warnx("another instance polls with this token; "
				  "commands may go to it (alerts keep "
				  "flowing)");
		p->conflict = 1;
		poll_backoff(p);
		return 1;
	case TG_RATE_LIMITED:
		p->next_at = p->d.clk->now +
			     api_retry_after_ms(p->d.api, r, &capped);
		return 1;
	case TG_TRANSIENT:
		log_debug("%s failed: %s", method, r->description);
		poll_backoff(p);
		return 1;
	default:
		return 0;
	}
}

static void poll_ok(struct poller *p)
{
	if (p->conflict)
		log_info("polling for commands again (the other instance "
			 "stopped)");
	p->conflict = 0;
	p->attempts = 0;
	p->last_err[0] = '\0';
	p->next_at = p->d.clk->now;
}

static void on_getme(void *arg, const struct tg_reply *r)
{
	struct poller *p = arg;
	const cJSON *res, *u;

	p->inflight = 0;
	if (poll_failed(p, "getMe", r))
		return;
	res = cJSON_GetObjectItemCaseSensitive(r->json, "result");
	u = cJSON_GetObjectItemCaseSensitive(res, "username");
	if (r->outcome == TG_OK && cJSON_IsString(u)) {
		str_copy(p->env.bot_name, u->valuestring,
			 sizeof(p->env.bot_name));
		log_info("commands: this is @%s", p->env.bot_name);
	} else {
		log_warnx("getMe: %s; /cmd@name will be accepted for any "
			  "name", r->description);
	}
	poll_ok(p);
	p->step = STEP_COMMANDS;
}

static void on_commands(void *arg, const struct tg_reply *r)
{
	struct poller *p = arg;

	p->inflight = 0;
	if (poll_failed(p, "setMyCommands", r))
		return;
	/* The menu is a convenience: never let it block the commands. */
	if (r->outcome != TG_OK)
		log_warnx("setMyCommands: %s", r->description);
	poll_ok(p);
	p->step = STEP_POLL;
}

static void on_delhook(void *arg, const struct tg_reply *r)
{
	struct poller *p = arg;

	p->inflight = 0;
	if (poll_failed(p, "deleteWebhook", r))
		return;
	if (r->outcome != TG_OK) {
		log_warnx("deleteWebhook: %s", r->description);
		poll_backoff(p);
		return;
	}
	log_info("webhook deleted; polling for commands");
	poll_ok(p);
	p->step = STEP_POLL;
}

/* Handles one update and confirms it, in the turn's transaction.
 * Returns 1 if it was new. */
static int poll_update(struct poller *p, const cJSON *u)
{
	const cJSON *idv = cJSON_GetObjectItemCaseSensitive(u, "update_id");
	int64_t id;
	char val[32];

	if (!cJSON_IsNumber(idv))
		return 0;
	id = (int64_t)idv->valuedouble;
	if (id < p->offset) /* already handled: Telegram resent it */
		return 0;
	commands_handle_update(&p->env, u);
	p->offset = id + 1;
	snprintf(val, sizeof(val), "%" PRId64, p->offset);
	if (store_kv_set(p->d.store, POLL_OFFSET_KEY, val) != 0)
		log_warnx("store: %s: the poll offset was not saved",
			  store_errmsg(p->d.store));
	return 1;
}

static void on_updates(void *arg, const struct tg_reply *r)
{
	struct poller *p = arg;
	const cJSON *res, *u;
	int n = 0, fresh = 0;

	p->inflight = 0;
	if (poll_failed(p, "getUpdates", r))
		return;
	if (r->outcome != TG_OK) {
		/* A 400 on getUpdates is our fault; do not spin on it. */
		log_warnx("getUpdates: %s", r->description);
		poll_backoff(p);
		return;
	}
	res = cJSON_GetObjectItemCaseSensitive(r->json, "result");
	if (!cJSON_IsArray(res)) {
		/* Not what the API promises: a server fault, not a reason to
		 * ask again at once. */
		snprintf(p->last_err, sizeof(p->last_err),
			 "getUpdates: result is not a list");
		poll_backoff(p);
		return;
	}
	p->last_ok_wall = p->d.clk->wall;
	cJSON_ArrayForEach(u, res) {
		if (n++ == POLL_LIMIT)
			break;
		fresh += poll_update(p, u);
	}
	if (n > 0 && fresh == 0) {
		/* Only updates we confirmed already (ids going backwards):
		 * answering at once would spin. */
		snprintf(p->last_err, sizeof(p->last_err),
			 "getUpdates: only already confirmed updates");
		poll_backoff(p);
		return;
	}
	poll_ok(p);
}

/* --- starting requests --- */

static char *poll_body_commands(void)
{
	const char *cmd_names[32], *descs[32];
	size_t n = 0, i;

	for (i = 0; i < commands_count() && n < ARRAY_LEN(cmd_names); i++) {
		const struct command *c = commands_at(i);

		if (!commands_name_valid(c->name))
			continue;
		cmd_names[n] = c->name;
		descs[n++] = c->help;
	}
	return tg_body_set_commands(cmd_names, descs, n);
}

static void poll_start(struct poller *p)
{
	const char *method;
	tg_done_fn fn;
	char *body;
	long timeout = 0;

	switch (p->step) {
	case STEP_GETME:
		method = "getMe";
		fn = on_getme;
		body = strdup("{}");
		break;
	case STEP_COMMANDS:
		method = "setMyCommands";
		fn = on_commands;
		body = poll_body_commands();
		break;
	case STEP_DELHOOK:
		/* no drop_pending_updates: those are operators' commands */
		method = "deleteWebhook";
		fn = on_delhook;
		body = strdup("{}");
		break;
	case STEP_POLL:
		method = "getUpdates";
		fn = on_updates;
		body = tg_body_get_updates(p->offset, p->d.cfg->poll_timeout,
					   POLL_LIMIT);
		timeout = p->d.cfg->poll_timeout + POLL_MARGIN_S;
		break;
	default:
		return;
	}
	if (body == NULL || tg_call(p->d.tg, method, body, timeout, fn, p) != 0) {
		if (body == NULL)
			log_warnx("%s: out of memory", method);
		else
			log_warnx("%s: could not start the request", method);
		poll_backoff(p);
		return;
	}
	api_begin(p->d.api, API_POLL);
	p->inflight = 1;
}

void poller_run(struct poller *p)
{
	if (poller_next(p) <= p->d.clk->now)
		poll_start(p);
}
