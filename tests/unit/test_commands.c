/*
 * test_commands.c - unit tests for commands/: parsing, the authorisation
 * rule, every command's reply against a real store in a temporary
 * directory, the inline buttons, and the long-polling state machine.
 *
 * The real store, formatter, Bot API wire format and config checks are
 * included; dispatch, the status report, the transport and the logger are
 * faked below and record what they were asked to do.
 * Set COMMANDS_SHOW=1 to print every reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <fnmatch.h>

#include "tests/unit/fake_log.h"

#include "alerts/store.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/tgvalidate.c"
#include "alerts/alert.c"
#include "bot/tgapi.c"
#include "bot/tz.c"
#include "bot/config.c"
#include "alerts/template.c"
#include "bot/backoff.c"
#include "bot/rng.c"
#include "bot/breaker.c"
#include "bot/stats.c"
#include "bot/api.c"
#include "bot/chats.c"
#include "bot/mutes.c"
#include "commands/commands.c"
#include "commands/cmd_help.c"
#include "commands/cmd_status.c"
#include "commands/cmd_alerts.c"
#include "commands/cmd_retry.c"
#include "commands/cmd_mute.c"
#include "commands/cmd_ack.c"
#include "commands/cmd_silence.c"
#include "tests/unit/fake_amclient.h"
#include "commands/poller.c"

#include "tests/unit/fixture.h"

#define ADMIN 111LL
#define VIEWER 222LL
#define STRANGER 333LL
#define GROUP (-1001000000001LL)
#define OTHER_GROUP (-1009999999999LL)
#define CHAT_B 4242LL
#define T0 1700000000000LL
#define MONO0 5000000LL
#define AUTH_RETRY_MS 300000 /* as the daemon's */

/* --- fakes: what the commands asked the rest of the daemon to do --- */

#define MAX_REC 128

struct rec_reply {
	int64_t chat, thread, reply_to;
	char *html;
};

struct rec_call {
	char method[32];
	char *body;
	long timeout;
	tg_done_fn fn;
	void *arg;
};

static struct {
	struct rec_reply replies[MAX_REC];
	size_t nreplies;
	struct { char id[64]; char *text; } answers[MAX_REC];
	size_t nanswers;
	int64_t refreshed[MAX_REC];
	size_t nrefreshed;
	int retry_now;
	struct rec_call calls[MAX_REC];
	size_t ncalls;
	int tg_fail;
	cJSON *status;
} rec;

static void rec_clear(void)
{
	for (size_t i = 0; i < rec.nreplies; i++)
		free(rec.replies[i].html);
	for (size_t i = 0; i < rec.nanswers; i++)
		free(rec.answers[i].text);
	for (size_t i = 0; i < rec.ncalls; i++)
		free(rec.calls[i].body);
	cJSON_Delete(rec.status);
	memset(&rec, 0, sizeof(rec));
	fake_log_reset();
}

/* Handlers answer through the outbox: recorded here at once (the
 * outbox's staging and sending are test_outbox's and test_dispatch's). */
int outbox_reply(struct outbox *ob, int64_t chat, int64_t thread,
		 const char *html, const char *markup, int64_t reply_to)
{
	struct rec_reply *r;

	assert_true(rec.nreplies < MAX_REC);
	r = &rec.replies[rec.nreplies++];
	r->chat = chat;
	r->thread = thread;
	r->reply_to = reply_to;
	r->html = strdup(html);
	if (getenv("COMMANDS_SHOW"))
		fprintf(stderr, "--- reply to %lld:\n%s\n", (long long)chat,
			html);
	/* Everything the commands send must be valid Telegram HTML. */
	{
		char err[256];

		if (tg_html_validate(html, strlen(html), err, sizeof(err)) != 0)
			fail_msg("invalid reply HTML (%s): %s", err, html);
	}
	return 0;
}

int outbox_edit(struct outbox *ob, int64_t chat, int64_t message_id,
		const char *html, const char *markup)
{
	return 0;
}

int outbox_answer_callback(struct outbox *ob, const char *callback_id,
			   const char *text)
{
	assert_true(rec.nanswers < MAX_REC);
	str_copy(rec.answers[rec.nanswers].id, callback_id,
		 sizeof(rec.answers[0].id));
	rec.answers[rec.nanswers++].text = strdup(text);
	return 0;
}

void dispatch_retry_now(struct dispatch *ds)
{
	rec.retry_now++;
}

void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id)
{
	assert_true(rec.nrefreshed < MAX_REC);
	rec.refreshed[rec.nrefreshed++] = alert_id;
}

void dispatch_refresh_alerts(struct dispatch *ds, const int64_t *ids,
			     size_t n)
{
	for (size_t i = 0; i < n; i++)
		dispatch_refresh_alert(ds, ids[i]);
}

static cJSON *fake_status(void *arg)
{
	return cJSON_Duplicate(rec.status, 1);
}

int tg_call(struct tg *tg, const char *method, char *body, long timeout,
	    tg_done_fn fn, void *arg)
{
	struct rec_call *c;

	if (rec.tg_fail) {
		free(body);
		return -1;
	}
	assert_true(rec.ncalls < MAX_REC);
	c = &rec.calls[rec.ncalls++];
	str_copy(c->method, method, sizeof(c->method));
	c->body = body;
	c->timeout = timeout;
	c->fn = fn;
	c->arg = arg;
	return 0;
}


/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *store;
	struct rng rng;
	struct api *api;
	struct stats stats;
	struct chats *chats;
	struct mutes *mutes;
	struct cmd_deps deps;
	struct cmd_env env;
	int64_t next_msg;
};

/* The modules that keep the store: made again after a reopen. */
static void fx_modules(struct fx *f)
{
	chats_free(f->chats);
	mutes_free(f->mutes);
	f->chats = chats_new(f->store);
	f->mutes = mutes_new(f->store, &f->clk);
	assert_non_null(f->chats);
	assert_non_null(f->mutes);
	chats_load(f->chats, &f->cfg);
	assert_int_equal(mutes_load(f->mutes), 0);
	f->deps.store = f->store;
	f->deps.chats = f->chats;
	f->deps.mutes = f->mutes;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct api_opts ao = {
		.breaker_threshold = 5, .retry_base_ms = 1000,
		.retry_cap_ms = 300000, .retry_after_cap = 3600,
		.auth_retry_ms = AUTH_RETRY_MS,
	};
	char err[256];

	if (f == NULL)
		return -1;
	rec_clear();
	setenv("TZ", "UTC", 1);
	if (fx_tmpdir(f->dir, sizeof(f->dir), "cmd") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	config_defaults(&f->cfg);
	f->cfg.admins[f->cfg.nadmins++] = ADMIN;
	f->cfg.viewers[f->cfg.nviewers++] = VIEWER;
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.chats[f->cfg.nchats++] = CHAT_B;
	f->cfg.poll_timeout = 30;
	f->clk.now = MONO0;
	f->clk.wall = T0;
	rng_seed(&f->rng, 42);
	f->api = api_new(&ao, &f->clk, &f->rng);
	if (f->api == NULL)
		return -1;
	stats_init(&f->stats);
	f->deps = (struct cmd_deps){
		.cfg = &f->cfg, .clk = &f->clk, .stats = &f->stats,
		/* never dereferenced: their entry points are faked */
		.outbox = (struct outbox *)f, .dispatch = (struct dispatch *)f,
		.status = fake_status,
	};
	fx_modules(f);
	f->env.deps = &f->deps;
	str_copy(f->env.bot_name, "OpsBot", sizeof(f->env.bot_name));
	f->next_msg = 100;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	chats_free(f->chats);
	mutes_free(f->mutes);
	api_free(f->api);
	store_close(f->store);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	rec_clear();
	return 0;
}

/* The loop's end of a turn: commit, then the mutes apply what was
 * committed. */
static void commit(struct fx *f)
{
	assert_int_equal(store_commit(f->store), 0);
	mutes_committed(f->mutes, 1);
}

static struct poller *fx_poller(struct fx *f)
{
	struct poller_deps pd = {
		.cfg = &f->cfg, .clk = &f->clk, .store = f->store,
		.tg = (struct tg *)f, /* never dereferenced: tg_call is fake */
		.api = f->api, .rng = &f->rng, .cmds = &f->deps,
	};

	return poller_new(&pd);
}

/* A message update as Telegram sends it. */
static cJSON *msg_update(struct fx *f, int64_t user, const char *username,
			 int64_t chat, const char *text)
{
	cJSON *u = cJSON_CreateObject(), *m, *from, *ch;

	cJSON_AddNumberToObject(u, "update_id", (double)f->next_msg);
	m = cJSON_AddObjectToObject(u, "message");
	cJSON_AddNumberToObject(m, "message_id", (double)f->next_msg++);
	from = cJSON_AddObjectToObject(m, "from");
	cJSON_AddNumberToObject(from, "id", (double)user);
	cJSON_AddStringToObject(from, "first_name", "Someone");
	if (username)
		cJSON_AddStringToObject(from, "username", username);
	ch = cJSON_AddObjectToObject(m, "chat");
	cJSON_AddNumberToObject(ch, "id", (double)chat);
	cJSON_AddStringToObject(ch, "type", chat > 0 ? "private" :
				"supergroup");
	cJSON_AddStringToObject(m, "text", text);
	return u;
}

static void say(struct fx *f, int64_t user, int64_t chat, const char *text)
{
	cJSON *u = msg_update(f, user, user == ADMIN ? "alice" :
			      user == VIEWER ? "victor" : "mallory", chat,
			      text);

	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
}

static void press(struct fx *f, int64_t user, const char *cbid,
		  const char *data)
{
	cJSON *u = cJSON_CreateObject(), *q, *from, *m;

	cJSON_AddNumberToObject(u, "update_id", (double)f->next_msg++);
	q = cJSON_AddObjectToObject(u, "callback_query");
	cJSON_AddStringToObject(q, "id", cbid);
	cJSON_AddStringToObject(q, "data", data);
	from = cJSON_AddObjectToObject(q, "from");
	cJSON_AddNumberToObject(from, "id", (double)user);
	cJSON_AddStringToObject(from, "username",
				user == ADMIN ? "alice" : "mallory");
	m = cJSON_AddObjectToObject(q, "message");
	cJSON_AddNumberToObject(m, "message_id", 77);
	cJSON_AddObjectToObject(m, "chat");
	cJSON_AddNumberToObject(cJSON_GetObjectItem(m, "chat"), "id",
				(double)GROUP);
	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
}

static const char *last_reply(void)
{
	return rec.nreplies ? rec.replies[rec.nreplies - 1].html : "";
}

/* Inserts an alert with deliveries to GROUP and CHAT_B (PENDING). */
static int64_t add_alert(struct fx *f, int sev, const char *source,
			 const char *title, int64_t at)
{
	struct dest dests[2] = { { GROUP, 0 }, { CHAT_B, 0 } };
	struct alert a;

	fx_alert(&a, (enum severity)sev, source, title,
		 "details of the problem", at);
	assert_int_equal(store_alert_insert(f->store, &a, dests, 2,
					    DS_PENDING, 0), 0);
	alert_free(&a);
	return a.id ? a.id : (int64_t)sqlite3_last_insert_rowid(
					f->store->db);
}

static void set_state(struct fx *f, int64_t id, int64_t chat, int state,
		      int attempts, int64_t due, const char *err)
{
	struct delivery dl = { 0 };

	dl.alert_id = id;
	dl.chat_id = chat;
	dl.state = state;
	dl.attempts = attempts;
	dl.due_at = due;
	dl.updated_at = f->clk.wall;
	if (state == DS_SENT) {
		dl.message_id = 500 + id;
		dl.sent_at = f->clk.wall;
	}
	str_copy(dl.last_error, err ? err : "", sizeof(dl.last_error));
	assert_int_equal(store_delivery_update(f->store, &dl), 0);
}

static int delivery_state(struct fx *f, int64_t id, int64_t chat)
{
	struct delivery dl[4];
	int n = store_deliveries(f->store, id, dl, 4);

	for (int i = 0; i < n; i++)
		if (dl[i].chat_id == chat)
			return dl[i].state;
	return -1;
}

static int nmutes(struct fx *f)
{
	struct mute m[64];

	return store_mutes(f->store, f->clk.wall, m, 64);
}

/* --- the table and parsing --- */

static void test_table_names_valid(void **state)
{
	int saw_retry = 0;

	for (size_t i = 0; i < commands_count(); i++) {
		const struct command *c = commands_at(i);

		assert_true(commands_name_valid(c->name));
		assert_non_null(c->help);
		assert_true(strlen(c->help) >= 3 && strlen(c->help) <= 256);
		saw_retry |= strcmp(c->name, "retry_now") == 0;
	}
	assert_true(saw_retry);
	assert_false(commands_name_valid("retry-now"));
	assert_false(commands_name_valid("Status"));
	assert_false(commands_name_valid(""));
	assert_ptr_equal(commands_find("RETRY-NOW", 9),
			 commands_find("retry_now", 9));
	assert_null(commands_find("nope", 4));
}

static void test_parse_suffix_case_alias(void **state)
{
	struct fx *f = *state;

	say(f, ADMIN, ADMIN, "/help@OpsBot");
	assert_int_equal(rec.nreplies, 1);
	assert_non_null(strstr(last_reply(), "/retry_now"));
	assert_int_equal(rec.replies[0].chat, ADMIN);
	assert_int_equal(rec.replies[0].reply_to, f->next_msg - 1);

	say(f, ADMIN, GROUP, "/help@SomeOtherBot");
	assert_int_equal(rec.nreplies, 1); /* not for us: ignored */

	say(f, ADMIN, GROUP, "/HeLp@opsbot");
	assert_int_equal(rec.nreplies, 2);
	assert_int_equal(rec.replies[1].chat, GROUP);

	say(f, ADMIN, ADMIN, "/retry-now");
	assert_int_equal(rec.nreplies, 3);
	assert_non_null(strstr(last_reply(), "🔁"));
	assert_int_equal(rec.retry_now, 1);

	say(f, ADMIN, ADMIN, "/frobnicate now");
	assert_string_equal(last_reply(),
			    "Unknown command. /help lists what I can do.");

	say(f, ADMIN, ADMIN, "just chatting, not a command");
	say(f, ADMIN, ADMIN, "/");
	assert_int_equal(rec.nreplies, 4);
}

static void test_parse_limits(void **state)
{
	struct fx *f = *state;
	char *big = malloc(5000), args[400];

	memset(big, 'a', 4999);
	memcpy(big, "/help ", 6);
	big[4999] = '\0';
	say(f, ADMIN, ADMIN, big);
	assert_int_equal(rec.nreplies, 0); /* over 4096 bytes: ignored */
	free(big);

	memset(args, 'x', sizeof(args) - 1);
	memcpy(args, "/mute 1h ", 9);
	args[sizeof(args) - 1] = '\0';
	say(f, ADMIN, ADMIN, args);
	assert_int_equal(rec.nreplies, 1);
	assert_int_equal(nmutes(f), 0);
}

/* --- who may command --- */

static void test_auth_viewer(void **state)
{
	struct fx *f = *state;

	say(f, VIEWER, VIEWER, "/mutes");
	assert_string_equal(last_reply(), "No active mutes.");
	say(f, VIEWER, GROUP, "/mute 1h");
	assert_int_equal(rec.nreplies, 2);
	assert_non_null(strstr(last_reply(), "not authorised"));
	assert_int_equal(nmutes(f), 0);
	assert_false(f->mutes->dirty); /* nothing for the mutes to reload */
	/* help shows a viewer only what a viewer can run */
	say(f, VIEWER, VIEWER, "/help");
	assert_null(strstr(last_reply(), "/mute "));
	assert_non_null(strstr(last_reply(), "/mutes"));
}

static void test_auth_stranger_once(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_ERROR, "db1", "disk", T0);
	int warn0;

	set_state(f, id, GROUP, DS_FAILED, 2, 0, "chat not found");
	warn0 = fake_log_warnings;
	say(f, STRANGER, STRANGER, "/retry_now");
	assert_int_equal(rec.nreplies, 1);
	assert_string_equal(last_reply(), "⛔ not authorised");
	assert_int_equal(fake_log_warnings, warn0 + 1);
	say(f, STRANGER, STRANGER, "/status");
	say(f, STRANGER, GROUP, "/mute 1h");
	assert_int_equal(rec.nreplies, 1); /* silent within 10 minutes */
	assert_int_equal(rec.retry_now, 0);
	assert_int_equal(delivery_state(f, id, GROUP), DS_FAILED);
	assert_int_equal(nmutes(f), 0);

	f->clk.now += CMD_REFUSE_EVERY_MS;
	say(f, STRANGER, GROUP, "/status");
	assert_int_equal(rec.nreplies, 2);
	assert_int_equal(rec.replies[1].chat, GROUP);
	assert_string_equal(last_reply(), "⛔ not authorised");
}

static void test_auth_table_bounded(void **state)
{
	struct fx *f = *state;

	/* More strangers than the table holds, slowly enough for the
	 * global budget (CMD_REFUSE_BUDGET a minute): each is told once,
	 * and the table never grows. */
	for (int64_t u = 1000; u < 1000 + 3 * CMD_REFUSED_MAX; u++) {
		say(f, u, u, "/status");
		f->clk.now += CMD_REFUSE_BUDGET_MS / CMD_REFUSE_BUDGET;
	}
	assert_int_equal(rec.nreplies, 3 * CMD_REFUSED_MAX);
	say(f, 1000 + 3 * CMD_REFUSED_MAX - 1, GROUP, "/status");
	assert_int_equal(rec.nreplies, 3 * CMD_REFUSED_MAX);
}

static void test_auth_unknown_group(void **state)
{
	struct fx *f = *state;

	say(f, ADMIN, OTHER_GROUP, "/status");
	say(f, STRANGER, OTHER_GROUP, "/status");
	assert_int_equal(rec.nreplies, 0);
	assert_int_equal(fake_log_warnings, 0);
}

/* --- the commands --- */

static void test_alerts_lines(void **state)
{
	struct fx *f = *state;
	int64_t a1, a2, a3;
	const char *r, *p1, *p2, *p3;

	a1 = add_alert(f, SEV_CRITICAL, "db1", "Replication lag", T0 - 3000);
	a2 = add_alert(f, SEV_WARNING, "web<2>", "Slow & steady", T0 - 2000);
	a3 = add_alert(f, SEV_ERROR, NULL, "Disk full", T0 - 1000);
	set_state(f, a1, GROUP, DS_SENT, 1, 0, NULL);
	set_state(f, a1, CHAT_B, DS_SENT, 1, 0, NULL);
	set_state(f, a2, GROUP, DS_RETRYING, 3, T0 + 40000, "HTTP 502");
	set_state(f, a2, CHAT_B, DS_FAILED, 1, 0, "chat not found");
	set_state(f, a3, GROUP, DS_MUTED, 0, 0, NULL);
	set_state(f, a3, CHAT_B, DS_SUPPRESSED, 0, 0, NULL);
	assert_int_equal(store_ack(f->store, a1, "@bob", T0), 0);

	say(f, VIEWER, VIEWER, "/alerts");
	r = last_reply();
	p1 = strstr(r, "Replication lag");
	p2 = strstr(r, "Slow &amp; steady");
	p3 = strstr(r, "Disk full");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p3 < p2 && p2 < p1); /* newest first */
	assert_non_null(strstr(r, "web&lt;2&gt;"));
	assert_non_null(strstr(r, "sent ×2"));
	assert_non_null(strstr(r, "acked by @bob"));
	assert_non_null(strstr(r, "retrying #3 in 40s: HTTP 502"));
	assert_non_null(strstr(r, "failed: chat not found"));
	assert_non_null(strstr(r, "muted"));
	assert_non_null(strstr(r, "repeat"));
	assert_non_null(strstr(r, format_marker(SEV_CRITICAL)));
}

static void test_alerts_filter_and_count(void **state)
{
	struct fx *f = *state;
	int64_t ids[5];
	char want[32];
	const char *r;

	ids[0] = add_alert(f, SEV_CRITICAL, "a", "crit one", T0);
	ids[1] = add_alert(f, SEV_WARNING, "a", "warn one", T0);
	ids[2] = add_alert(f, SEV_CRITICAL, "a", "crit two", T0);
	ids[3] = add_alert(f, SEV_CRITICAL, "a", "crit three", T0);
	ids[4] = add_alert(f, SEV_INFO, "a", "info one", T0);
	say(f, ADMIN, ADMIN, "/alerts 2 critical");
	r = last_reply();
	assert_non_null(strstr(r, "crit three"));
	assert_non_null(strstr(r, "crit two"));
	assert_null(strstr(r, "crit one"));
	assert_null(strstr(r, "warn one"));
	assert_null(strstr(r, "info one"));
	snprintf(want, sizeof(want), "#%lld<", (long long)ids[3]);
	assert_non_null(strstr(r, want));

	/* a word that is neither a number nor a severity is a source glob */
	say(f, ADMIN, ADMIN, "/alerts bogus");
	assert_non_null(strstr(last_reply(), "No alerts from matching"));
	say(f, ADMIN, ADMIN, "/alerts 2 critical [a]");
	assert_non_null(strstr(last_reply(), "crit three"));
	say(f, ADMIN, ADMIN, "/alerts 1 2 3 4");
	assert_non_null(strstr(last_reply(), "Usage"));
	say(f, ADMIN, ADMIN, "/alerts db* web*");
	assert_non_null(strstr(last_reply(), "Usage"));
}

static void test_alerts_fit_limit(void **state)
{
	struct fx *f = *state;
	char title[600];
	const char *r;

	/* 50 alerts with long titles cannot all fit one message. */
	memset(title, 'W', sizeof(title) - 1);
	title[sizeof(title) - 1] = '\0';
	for (int i = 0; i < 50; i++) {
		int64_t id = add_alert(f, SEV_ERROR, "svc", title, T0);

		set_state(f, id, GROUP, DS_FAILED, 5, 0,
			  "Bad Request: a rather long error text that goes on "
			  "and on and on for a while");
	}
	say(f, ADMIN, ADMIN, "/alerts 50");
	r = last_reply();
	assert_true(tg_visible_len(r, strlen(r)) <= TG_MAX_TEXT);
	assert_non_null(strstr(r, "more"));
}

static void test_alert_detail(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_ERROR, "db1", "Replication lag", T0);
	char chat[32];
	const char *r;

	set_state(f, id, GROUP, DS_SENT, 2, 0, "HTTP 502 once");
	set_state(f, id, CHAT_B, DS_RETRYING, 4, T0 + 90000,
		  "Too Many Requests: retry after 90");
	say(f, VIEWER, VIEWER, "/alert 1");
	snprintf(chat, sizeof(chat), "%lld", (long long)CHAT_B);
	r = last_reply();
	assert_non_null(strstr(r, "Replication lag"));
	assert_non_null(strstr(r, "details of the problem"));
	assert_non_null(strstr(r, chat));
	assert_non_null(strstr(r, "2 attempts"));
	assert_non_null(strstr(r, "last error: HTTP 502 once"));
	assert_non_null(strstr(r, "retrying #4 in 1m30s: Too Many Requests"));

	say(f, VIEWER, VIEWER, "/alert 999");
	assert_string_equal(last_reply(), "No such alert.");
	say(f, VIEWER, VIEWER, "/alert x");
	assert_non_null(strstr(last_reply(), "Usage"));
}

static cJSON *status_fixture(void)
{
	cJSON *o = cJSON_CreateObject(), *t, *q, *fc, *one;

	cJSON_AddStringToObject(o, "version", "9.8.7");
	cJSON_AddNumberToObject(o, "uptime_s", 3725);
	t = cJSON_AddObjectToObject(o, "telegram");
	cJSON_AddStringToObject(t, "breaker", "open");
	cJSON_AddBoolToObject(t, "unauthorized", 0);
	cJSON_AddNumberToObject(t, "last_ok_age_s", 125);
	cJSON_AddStringToObject(t, "last_error", "HTTP 502 <bad gateway>");
	cJSON_AddNumberToObject(t, "last_error_age_s", 7);
	cJSON_AddNumberToObject(t, "rate_limited", 4);
	q = cJSON_AddObjectToObject(o, "queue");
	cJSON_AddNumberToObject(q, "pending", 12);
	cJSON_AddNumberToObject(q, "sending", 1);
	cJSON_AddNumberToObject(q, "retrying", 3);
	cJSON_AddNumberToObject(q, "failed", 2);
	cJSON_AddNumberToObject(q, "muted", 6);
	cJSON_AddNumberToObject(q, "oldest_undelivered_age_s", 300);
	cJSON_AddNumberToObject(q, "next_retry_in_s", 40);
	cJSON_AddNumberToObject(o, "sent_last_hour", 17);
	cJSON_AddNumberToObject(o, "sent_last_day", 230);
	cJSON_AddNumberToObject(o, "store_bytes", 3 << 20);
	cJSON_AddNumberToObject(o, "clients", 5);
	cJSON_AddNumberToObject(o, "mutes", 2);
	fc = cJSON_AddArrayToObject(o, "failed_chats");
	one = cJSON_CreateObject();
	cJSON_AddNumberToObject(one, "chat", -100777);
	cJSON_AddStringToObject(one, "reason", "chat not found");
	cJSON_AddItemToArray(fc, one);
	t = cJSON_AddObjectToObject(o, "polling");
	cJSON_AddStringToObject(t, "state", "stopped");
	cJSON_AddStringToObject(t, "last_error", "getUpdates: Unauthorized");
	return o;
}

static void test_status_render(void **state)
{
	cJSON *s = status_fixture();
	struct buf b;
	char up[32], want[64];

	buf_init(&b, 8192);
	assert_int_equal(cmd_status_render(s, &b), 0);
	fmt_duration(up, sizeof(up), 3725 * 1000);
	assert_non_null(strstr(b.data, "9.8.7"));
	assert_non_null(strstr(b.data, up));
	assert_non_null(strstr(b.data, "breaker open"));
	fmt_duration(up, sizeof(up), 125 * 1000);
	snprintf(want, sizeof(want), "last success %s ago", up);
	assert_non_null(strstr(b.data, want));
	assert_non_null(strstr(b.data, "HTTP 502 &lt;bad gateway&gt;"));
	assert_non_null(strstr(b.data, "13 pending"));
	assert_non_null(strstr(b.data, "3 retrying (next in 40s)"));
	assert_non_null(strstr(b.data, "2 failed"));
	assert_non_null(strstr(b.data, "6 muted"));
	fmt_duration(up, sizeof(up), 300 * 1000);
	assert_non_null(strstr(b.data, up));
	assert_non_null(strstr(b.data, "17 last hour"));
	assert_non_null(strstr(b.data, "230 last day"));
	assert_non_null(strstr(b.data, "429s: 4"));
	assert_non_null(strstr(b.data, "Clients: 5"));
	assert_non_null(strstr(b.data, "3.0 MB"));
	assert_non_null(strstr(b.data, "mutes: 2"));
	assert_non_null(strstr(b.data, "-100777"));
	assert_non_null(strstr(b.data, "chat not found"));
	assert_non_null(strstr(b.data, "Commands: stopped (getUpdates: "
			       "Unauthorized)"));
	buf_free(&b);
	cJSON_Delete(s);
}

static void test_status_command(void **state)
{
	struct fx *f = *state;

	rec.status = status_fixture();
	say(f, VIEWER, GROUP, "/status");
	assert_int_equal(rec.nreplies, 1);
	assert_non_null(strstr(last_reply(), "9.8.7"));
	assert_int_equal(rec.replies[0].chat, GROUP);
}

static void test_retry_now(void **state)
{
	struct fx *f = *state;
	int64_t a = add_alert(f, SEV_ERROR, "x", "one", T0);
	int64_t b = add_alert(f, SEV_ERROR, "x", "two", T0);
	struct delivery dl[4];
	int n;

	set_state(f, a, GROUP, DS_FAILED, 3, 0, "chat not found");
	set_state(f, a, CHAT_B, DS_SENT, 1, 0, NULL);
	set_state(f, b, GROUP, DS_RETRYING, 2, T0 + 600000, "HTTP 502");
	set_state(f, b, CHAT_B, DS_FAILED, 9, 0, "too old");
	say(f, ADMIN, ADMIN, "/retry_now");
	assert_string_equal(last_reply(), "🔁 3 deliveries rescheduled (rate "
			    "limits still apply)");
	assert_int_equal(rec.retry_now, 1);
	n = store_deliveries(f->store, b, dl, 4);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_int_equal(dl[i].state, DS_RETRYING);
		assert_int_equal(dl[i].due_at, f->clk.wall);
	}
	assert_int_equal(delivery_state(f, a, CHAT_B), DS_SENT);

	set_state(f, a, GROUP, DS_FAILED, 3, 0, "chat not found");
	say(f, ADMIN, ADMIN, "/retry_now 1");
	assert_non_null(strstr(last_reply(), "1 delivery rescheduled"));
	say(f, ADMIN, ADMIN, "/retry_now zz");
	assert_non_null(strstr(last_reply(), "Usage"));
	assert_int_equal(rec.retry_now, 2);
}

static void test_mute_mutes_unmute(void **state)
{
	struct fx *f = *state;
	struct mute m[4];
	char want[64];

	say(f, ADMIN, GROUP, "/mute 2h db*");
	assert_int_equal(store_mutes(f->store, f->clk.wall, m, 4), 1);
	assert_string_equal(m[0].source, "db*");
	assert_int_equal(m[0].max_severity, -1);
	assert_int_equal(m[0].until, T0 + 2 * 3600000LL);
	assert_string_equal(m[0].created_by, "@alice");
	/* it holds alerts once the turn is committed, not before */
	assert_int_equal(mutes_count(f->mutes), 0);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), 1);
	snprintf(want, sizeof(want), "#%lld", (long long)m[0].id);
	assert_non_null(strstr(last_reply(), want));

	say(f, ADMIN, GROUP, "/mute 30m Warning");
	assert_int_equal(store_mutes(f->store, f->clk.wall, m, 4), 2);
	assert_int_equal(m[1].max_severity, SEV_WARNING);
	assert_string_equal(m[1].source, "");

	say(f, ADMIN, GROUP, "/mute 8d");
	assert_non_null(strstr(last_reply(), "at most 7 days"));
	say(f, ADMIN, GROUP, "/mute soon");
	assert_int_equal(nmutes(f), 2);

	f->clk.wall += 600000;
	say(f, VIEWER, GROUP, "/mutes");
	assert_non_null(strstr(last_reply(), "2 active mutes"));
	assert_non_null(strstr(last_reply(), "source db*"));
	assert_non_null(strstr(last_reply(), "1h50m"));
	assert_non_null(strstr(last_reply(), "warning and below"));

	commit(f);
	assert_int_equal(mutes_count(f->mutes), 2);
	snprintf(want, sizeof(want), "/unmute %lld", (long long)m[0].id);
	say(f, ADMIN, GROUP, want);
	assert_int_equal(nmutes(f), 1);
	commit(f);
	assert_int_equal(mutes_count(f->mutes), 1);
	say(f, ADMIN, GROUP, want);
	assert_non_null(strstr(last_reply(), "No mute"));
	say(f, ADMIN, GROUP, "/unmute all");
	assert_int_equal(nmutes(f), 0);
}

/* A forwarded message runs nothing, whoever forwards it: an admin
 * forwarding a stranger's "/mute 2h *" must not mute (Bot API 7
 * forward_origin, and the older forward_from / forward_date). */
static void test_forwarded_command_ignored(void **state)
{
	static const char *const keys[] = { "forward_origin", "forward_date",
					    "forward_from",
					    "forward_from_chat" };
	struct fx *f = *state;
	cJSON *u, *m, *o;
	size_t i;

	for (i = 0; i < ARRAY_LEN(keys); i++) {
		u = msg_update(f, ADMIN, "alice", GROUP, "/mute 2h *");
		m = cJSON_GetObjectItem(u, "message");
		if (strcmp(keys[i], "forward_date") == 0) {
			cJSON_AddNumberToObject(m, keys[i], 1700000000);
		} else {
			o = cJSON_AddObjectToObject(m, keys[i]);
			cJSON_AddStringToObject(o, "type", "user");
			cJSON_AddNumberToObject(o, "id", (double)STRANGER);
		}
		commands_handle_update(&f->env, u);
		cJSON_Delete(u);
		assert_int_equal(nmutes(f), 0);
		assert_int_equal(rec.nreplies, 0);
	}
	/* the same text typed by the admin works */
	say(f, ADMIN, GROUP, "/mute 2h *");
	assert_int_equal(nmutes(f), 1);
}

/* The Mute button on an alert whose source is long (k8s-style names) and
 * full of glob characters: the mute is for that source, matched
 * literally, never widened to its severity. A severity mute that covers
 * everything says so. */
static void test_mute_button_long_source(void **state)
{
	struct fx *f = *state;
	char src[ALERT_MAX_SOURCE + 1], want[2 * ALERT_MAX_SOURCE + 1];
	char data[32];
	struct mute m[4];
	int64_t id;
	size_t i, n = 0;

	/* 256 bytes, every fourth a glob character: 320 escaped */
	for (i = 0; i < ALERT_MAX_SOURCE; i++) {
		src[i] = i % 4 == 3 ? "*?[]"[(i / 4) % 4] : (char)('a' + i % 26);
		if (src[i] == '*' || src[i] == '?' || src[i] == '[' ||
		    src[i] == ']')
			want[n++] = '\\';
		want[n++] = src[i];
	}
	src[i] = '\0';
	want[n] = '\0';
	id = add_alert(f, SEV_CRITICAL, src, "pod crashloop", T0);
	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	press(f, ADMIN, "cb1", data);
	assert_int_equal(store_mutes(f->store, f->clk.wall, m, 4), 1);
	assert_int_equal(m[0].max_severity, -1);
	assert_string_equal(m[0].source, want);
	assert_int_equal(fnmatch(m[0].source, src, 0), 0);
	assert_int_not_equal(fnmatch(m[0].source, "db1", 0), 0);
	assert_null(strstr(last_reply(), "severity"));

	/* a mute of critical and below is a mute of everything */
	say(f, ADMIN, GROUP, "/mute 1h critical");
	assert_non_null(strstr(last_reply(), "critical and below (all "
				"alerts)"));
}

/* The daemon applies at most MUTES_MAX mutes: one more is refused, not
 * stored (a stored mute it never applies would be a lie). */
static void test_mute_cap(void **state)
{
	struct fx *f = *state;
	size_t cap = MUTES_MAX;

	for (size_t i = 0; i < cap; i++)
		say(f, ADMIN, GROUP, "/mute 1h db*");
	assert_int_equal(nmutes(f), (int)cap);
	say(f, ADMIN, GROUP, "/mute 1h web*");
	assert_non_null(strstr(last_reply(), "Too many active mutes"));
	assert_int_equal(nmutes(f), (int)cap);
	say(f, ADMIN, GROUP, "/unmute all");
	say(f, ADMIN, GROUP, "/mute 1h web*");
	assert_int_equal(nmutes(f), 1);
}

static void test_ack(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_CRITICAL, "db1", "down", T0);
	char by[64];
	int64_t at;

	say(f, ADMIN, GROUP, "/ack 1");
	assert_int_equal(store_ack_get(f->store, id, by, sizeof(by), &at), 1);
	assert_string_equal(by, "@alice");
	assert_int_equal(at, T0);
	assert_int_equal(rec.nrefreshed, 1);
	assert_int_equal(rec.refreshed[0], id);
	assert_non_null(strstr(last_reply(), "acked by @alice"));

	say(f, ADMIN, GROUP, "/ack 42");
	assert_string_equal(last_reply(), "No such alert.");
	assert_int_equal(rec.nrefreshed, 1);

	say(f, VIEWER, GROUP, "/ack 1");
	assert_non_null(strstr(last_reply(), "not authorised"));
}

static void test_buttons(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, SEV_ERROR, "db[1]", "down", T0);
	int64_t nosrc = add_alert(f, SEV_WARNING, NULL, "hmm", T0);
	struct mute m[4];
	char data[32], by[64];
	int64_t at;

	snprintf(data, sizeof(data), "ack:%lld", (long long)id);
	press(f, STRANGER, "cb1", data);
	assert_int_equal(rec.nanswers, 1);
	assert_string_equal(rec.answers[0].id, "cb1");
	assert_non_null(strstr(rec.answers[0].text, "not authorised"));
	assert_int_equal(store_ack_get(f->store, id, by, sizeof(by), &at), 0);
	assert_int_equal(rec.nreplies, 0);

	press(f, ADMIN, "cb2", data);
	assert_int_equal(rec.nanswers, 2);
	assert_non_null(strstr(rec.answers[1].text, "acked"));
	assert_int_equal(store_ack_get(f->store, id, by, sizeof(by), &at), 1);
	assert_string_equal(by, "@alice");
	assert_int_equal(rec.refreshed[0], id);

	press(f, ADMIN, "cb3", "ack:9999");
	assert_string_equal(rec.answers[2].text, "no such alert");

	snprintf(data, sizeof(data), "mute:%lld", (long long)id);
	press(f, ADMIN, "cb4", data);
	assert_int_equal(store_mutes(f->store, f->clk.wall, m, 4), 1);
	assert_string_equal(m[0].source, "db\\[1\\]"); /* matches literally */
	assert_int_equal(m[0].until, T0 + 3600000LL);
	assert_int_equal(rec.replies[0].reply_to, 77);
	snprintf(data, sizeof(data), "mute:%lld", (long long)nosrc);
	press(f, ADMIN, "cb5", data);
	assert_int_equal(store_mutes(f->store, f->clk.wall, m, 4), 2);
	assert_int_equal(m[1].max_severity, SEV_WARNING);
	assert_int_equal(rec.nanswers, 5);

	press(f, ADMIN, "cb6", "weird");
	assert_int_equal(rec.nanswers, 6);
}

/* --- the poller --- */

static void reply_with(struct rec_call *c, long http, const char *json)
{
	struct tg_reply r;

	tg_classify(&r, 0, NULL, http, json, strlen(json));
	c->fn(c->arg, &r);
	tg_reply_free(&r);
}

static struct rec_call *last_call(void)
{
	assert_true(rec.ncalls > 0);
	return &rec.calls[rec.ncalls - 1];
}

/* Drives a new poller through getMe and setMyCommands. */
static struct poller *poller_ready(struct fx *f)
{
	struct poller *p = fx_poller(f);
	size_t calls = rec.ncalls;

	assert_non_null(p);
	poller_run(p);
	assert_string_equal(last_call()->method, "getMe");
	assert_int_equal(poller_next(p), INT64_MAX); /* in flight */
	poller_run(p);
	assert_int_equal(rec.ncalls, calls + 1);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":{\"id\":9,"
		   "\"is_bot\":true,\"username\":\"OpsBot\"}}");
	assert_int_equal(poller_next(p), f->clk.now);
	poller_run(p);
	assert_string_equal(last_call()->method, "setMyCommands");
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":true}");
	return p;
}

static void test_poller_start_and_updates(void **state)
{
	struct fx *f = *state;
	struct poller *p;
	struct rec_call *c;
	cJSON *body, *res, *u;
	char *json, val[32];
	int64_t id;

	id = add_alert(f, SEV_CRITICAL, "db1", "down", T0);
	assert_int_equal(store_kv_set(f->store, "poll_offset", "500"), 0);
	p = poller_ready(f);
	assert_non_null(strstr(rec.calls[1].body, "\"retry_now\""));
	assert_null(strstr(rec.calls[1].body, "retry-now"));

	poller_run(p);
	c = last_call();
	assert_string_equal(c->method, "getUpdates");
	assert_int_equal(c->timeout, 30 + 15);
	body = cJSON_Parse(c->body);
	assert_int_equal(cJSON_GetObjectItem(body, "offset")->valuedouble, 500);
	assert_int_equal(cJSON_GetObjectItem(body, "timeout")->valuedouble, 30);
	assert_int_equal(cJSON_GetObjectItem(body, "limit")->valuedouble, 100);
	assert_non_null(strstr(c->body, "callback_query"));
	cJSON_Delete(body);

	/* Two updates: an ack, then a mute; handled in that order. */
	res = cJSON_CreateArray();
	f->next_msg = 500;
	u = msg_update(f, ADMIN, "alice", GROUP, "/ack 1");
	cJSON_AddItemToArray(res, u);
	f->next_msg = 503;
	u = msg_update(f, ADMIN, "alice", GROUP, "/mute@OpsBot 1h db1");
	cJSON_AddItemToArray(res, u);
	body = cJSON_CreateObject();
	cJSON_AddTrueToObject(body, "ok");
	cJSON_AddItemToObject(body, "result", res);
	json = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	reply_with(c, 200, json);
	free(json);

	assert_int_equal(rec.nreplies, 2);
	assert_non_null(strstr(rec.replies[0].html, "acked"));
	assert_non_null(strstr(rec.replies[1].html, "Mute"));
	assert_int_equal(rec.refreshed[0], id);
	assert_int_equal(nmutes(f), 1);
	assert_int_equal(store_kv_get(f->store, "poll_offset", val,
				      sizeof(val)), 1);
	assert_string_equal(val, "504");
	assert_true(store_in_txn(f->store)); /* committed by the loop */

	/* The next poll confirms them. */
	poller_run(p);
	body = cJSON_Parse(last_call()->body);
	assert_int_equal(cJSON_GetObjectItem(body, "offset")->valuedouble, 504);
	cJSON_Delete(body);

	/* An update Telegram sends again is not handled twice. */
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[{\"update_id\":"
		   "503,\"message\":{\"message_id\":1,\"text\":\"/help\","
		   "\"chat\":{\"id\":111,\"type\":\"private\"},\"from\":"
		   "{\"id\":111}}}]}");
	assert_int_equal(rec.nreplies, 2);
	poller_free(p);
}

static void test_poller_restart_keeps_offset(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);
	cJSON *body;
	char err[256];

	poller_run(p);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[{\"update_id\":"
		   "77,\"message\":{\"message_id\":1,\"text\":\"/help\","
		   "\"chat\":{\"id\":111,\"type\":\"private\"},\"from\":"
		   "{\"id\":111}}}]}");
	poller_free(p);
	assert_int_equal(store_commit(f->store), 0);
	store_close(f->store);
	assert_int_equal(store_open(&f->store, f->path, T0, err,
				    sizeof(err)), 0);
	fx_modules(f);
	p = poller_ready(f);
	poller_run(p);
	body = cJSON_Parse(last_call()->body);
	assert_int_equal(cJSON_GetObjectItem(body, "offset")->valuedouble, 78);
	cJSON_Delete(body);
	poller_free(p);
}

static void test_poller_webhook(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);

	poller_run(p);
	reply_with(last_call(), 409, "{\"ok\":false,\"error_code\":409,"
		   "\"description\":\"Conflict: can't use getUpdates method "
		   "while webhook is active; use deleteWebhook to delete the "
		   "webhook first\"}");
	assert_true(poller_next(p) <= f->clk.now);
	poller_run(p);
	assert_string_equal(last_call()->method, "deleteWebhook");
	assert_null(strstr(last_call()->body, "drop_pending_updates"));
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":true}");
	poller_run(p);
	assert_string_equal(last_call()->method, "getUpdates");
	poller_free(p);
}

static void test_poller_conflict_backoff(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);
	const char *conflict = "{\"ok\":false,\"error_code\":409,"
		"\"description\":\"Conflict: terminated by other getUpdates "
		"request; make sure that only one bot instance is running\"}";
	int warn0 = fake_log_warnings;
	size_t calls;
	int64_t next;

	for (int i = 0; i < 6; i++) {
		poller_run(p);
		assert_string_equal(last_call()->method, "getUpdates");
		reply_with(last_call(), 409, conflict);
		next = poller_next(p);
		assert_true(next >= f->clk.now && next <= f->clk.now + 60000);
		f->clk.now = next;
	}
	assert_int_equal(fake_log_warnings, warn0 + 1); /* once per episode */
	/* Backing off: after a few failures the wait is real. */
	poller_run(p);
	reply_with(last_call(), 409, conflict);
	calls = rec.ncalls;
	while (poller_next(p) <= f->clk.now && rec.ncalls == calls) {
		/* jitter may pick 0; a zero wait starts a request at once */
		poller_run(p);
		if (rec.ncalls != calls)
			reply_with(last_call(), 409, conflict);
		calls = rec.ncalls;
	}
	assert_true(poller_next(p) > f->clk.now);
	poller_run(p);
	assert_int_equal(rec.ncalls, calls); /* nothing before the time */

	/* The episode ends with a good poll; a new one warns again. */
	f->clk.now = poller_next(p);
	poller_run(p);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[]}");
	poller_run(p);
	reply_with(last_call(), 409, conflict);
	assert_int_equal(fake_log_warnings, warn0 + 2);
	poller_free(p);
}

static void test_poller_rate_limited(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);

	poller_run(p);
	reply_with(last_call(), 429, "{\"ok\":false,\"error_code\":429,"
		   "\"description\":\"Too Many Requests: retry after 17\","
		   "\"parameters\":{\"retry_after\":17}}");
	assert_int_equal(poller_next(p), f->clk.now + 17000);
	poller_free(p);
}

static const char *poll_state(struct poller *p, const char *key)
{
	static char val[160];
	cJSON *st = cJSON_CreateObject();
	const cJSON *v;

	poller_status(p, st);
	v = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "polling"), key);
	str_copy(val, cJSON_IsString(v) ? v->valuestring : "", sizeof(val));
	cJSON_Delete(st);
	return val;
}

static int64_t poll_offset(void)
{
	cJSON *body = cJSON_Parse(last_call()->body);
	int64_t off;

	assert_non_null(body);
	off = (int64_t)cJSON_GetObjectItem(body, "offset")->valuedouble;
	cJSON_Delete(body);
	return off;
}

static const char UNAUTHORIZED[] = "{\"ok\":false,\"error_code\":401,"
	"\"description\":\"Unauthorized\"}";

/* One 401 on getUpdates: commands are paused (one policy: each kind
 * pauses on its own 401), and polling tries again on its own timer,
 * auth_retry_ms later, whether or not an alert is ever delivered (issue
 * 16, item 11). */
static void test_poller_unauthorized(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);
	int64_t t401;
	size_t calls;
	int errors;

	poller_run(p);
	reply_with(last_call(), 401, UNAUTHORIZED);
	t401 = f->clk.now;
	assert_true(fake_log_errors >= 1);
	assert_true(api_paused(f->api));
	assert_string_equal(poll_state(p, "state"), "stopped");
	/* sends find out for themselves */
	assert_int_equal(api_gate(f->api, API_SEND), t401);
	assert_int_equal(poller_next(p), t401 + AUTH_RETRY_MS);

	calls = rec.ncalls;
	f->clk.now = t401 + AUTH_RETRY_MS - 1;
	poller_run(p);
	assert_int_equal(rec.ncalls, calls);
	f->clk.now = t401 + AUTH_RETRY_MS;
	poller_run(p);
	assert_int_equal(rec.ncalls, calls + 1);
	assert_string_equal(last_call()->method, "getUpdates");
	assert_int_equal(poller_next(p), INT64_MAX); /* one probe at a time */

	/* still refused: the next try is auth_retry_ms later, not logged
	 * again */
	errors = fake_log_errors;
	reply_with(last_call(), 401, UNAUTHORIZED);
	assert_int_equal(fake_log_errors, errors);
	assert_int_equal(poller_next(p), f->clk.now + AUTH_RETRY_MS);

	/* the token was fixed: the probe succeeds, polling goes on at once */
	f->clk.now += AUTH_RETRY_MS;
	poller_run(p);
	assert_int_equal(rec.ncalls, calls + 2);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[]}");
	assert_int_equal(poller_next(p), f->clk.now);
	poller_run(p);
	assert_int_equal(rec.ncalls, calls + 3);
	assert_string_equal(last_call()->method, "getUpdates");
	poller_free(p);
}

/* Answers every getUpdates with json for a simulated minute, starting
 * each request as soon as the poller allows; returns how many went. */
static size_t poll_minute(struct fx *f, struct poller *p, const char *json)
{
	int64_t end = f->clk.now + 60000;
	size_t n = 0;

	for (int i = 0; i < 100; i++) {
		int64_t next = poller_next(p);
		size_t before = rec.ncalls;

		assert_true(next != INT64_MAX);
		if (next > f->clk.now)
			f->clk.now = next;
		if (f->clk.now >= end)
			break;
		poller_run(p);
		assert_int_equal(rec.ncalls, before + 1);
		assert_string_equal(last_call()->method, "getUpdates");
		reply_with(last_call(), 200, json);
		n++;
	}
	return n;
}

/* {"ok":true,"result":{}} is not what getUpdates promises: a server
 * fault, backed off, never a spin (issue 16, item 12). */
static void test_poller_result_not_list(void **state)
{
	struct fx *f = *state;
	struct poller *p = poller_ready(f);
	size_t n;

	n = poll_minute(f, p, "{\"ok\":true,\"result\":{}}");
	if (getenv("COMMANDS_SHOW"))
		fprintf(stderr, "result {}: %zu getUpdates in 60 s\n", n);
	assert_true(n >= 2);
	assert_true(n <= 12); /* 1 s doubling to a 60 s cap, full jitter */
	assert_string_equal(poll_state(p, "last_error"),
			    "getUpdates: result is not a list");
	/* a good answer ends the backoff */
	f->clk.now = poller_next(p);
	poller_run(p);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[]}");
	assert_int_equal(poller_next(p), f->clk.now);
	assert_string_equal(poll_state(p, "last_error"), "");
	poller_free(p);
}

/* Only updates already confirmed (ids going backwards): none is handled
 * again, and the poller backs off instead of asking again at once. */
static void test_poller_old_updates(void **state)
{
	struct fx *f = *state;
	struct poller *p;
	size_t n;

	assert_int_equal(store_kv_set(f->store, "poll_offset", "500"), 0);
	commit(f);
	p = poller_ready(f);
	n = poll_minute(f, p, "{\"ok\":true,\"result\":[{\"update_id\":"
			"499,\"message\":{\"message_id\":1,\"text\":"
			"\"/help\",\"chat\":{\"id\":111,\"type\":"
			"\"private\"},\"from\":{\"id\":111}}}]}");
	assert_true(n >= 2);
	assert_true(n <= 12);
	assert_int_equal(rec.nreplies, 0); /* /help was not run again */
	assert_int_equal(poll_offset(), 500);
	poller_free(p);
}

/* The turn that handled a command fails to commit: the command's mute
 * never holds anything and the offset goes back, so Telegram sends the
 * command again (issue 16, item 2). */
static void test_poller_failed_commit(void **state)
{
	struct fx *f = *state;
	struct poller *p;
	struct alert a;

	assert_int_equal(store_kv_set(f->store, "poll_offset", "500"), 0);
	commit(f);
	p = poller_ready(f);
	poller_run(p);
	assert_int_equal(poll_offset(), 500);
	reply_with(last_call(), 200, "{\"ok\":true,\"result\":[{\"update_id\":"
		   "500,\"message\":{\"message_id\":1,\"text\":"
		   "\"/mute 2h db*\",\"chat\":{\"id\":111,\"type\":"
		   "\"private\"},\"from\":{\"id\":111,\"username\":"
		   "\"alice\"}}}]}");
	assert_int_equal(nmutes(f), 1); /* in the turn's transaction */

	/* the commit fails (the store rolls back), the sources are told */
	store_rollback(f->store);
	poller_committed(p, 0);
	mutes_committed(f->mutes, 0);
	assert_int_equal(nmutes(f), 0);
	assert_int_equal(mutes_count(f->mutes), 0);
	fx_alert(&a, SEV_CRITICAL, "db1", "down", "x", f->clk.wall);
	assert_null(mutes_match(f->mutes, &a));
	alert_free(&a);

	/* the command comes again */
	poller_run(p);
	assert_string_equal(last_call()->method, "getUpdates");
	assert_int_equal(poll_offset(), 500);
	poller_free(p);
}

static void test_poller_disabled_and_transient(void **state)
{
	struct fx *f = *state;
	struct poller *p;
	cJSON *st = cJSON_CreateObject();

	f->cfg.poll_timeout = 0;
	p = fx_poller(f);
	assert_int_equal(poller_next(p), INT64_MAX);
	poller_run(p);
	assert_int_equal(rec.ncalls, 0);
	poller_status(p, st);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st,
			    "polling"), "state")->valuestring, "disabled");
	cJSON_Delete(st);
	poller_free(p);

	f->cfg.poll_timeout = 30;
	p = fx_poller(f);
	rec.tg_fail = 1; /* the request cannot even start */
	poller_run(p);
	assert_int_equal(rec.ncalls, 0);
	assert_true(poller_next(p) != INT64_MAX);
	rec.tg_fail = 0;
	f->clk.now += 60000;
	poller_run(p);
	assert_string_equal(last_call()->method, "getMe");
	reply_with(last_call(), 502, "<html>bad gateway</html>");
	assert_true(poller_next(p) >= f->clk.now);
	f->clk.now += 60000;
	poller_run(p);
	assert_string_equal(last_call()->method, "getMe"); /* tried again */
	poller_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_table_names_valid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_suffix_case_alias,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth_viewer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth_stranger_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth_table_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_auth_unknown_group, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_alerts_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_alerts_filter_and_count,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts_fit_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_alert_detail, setup,
						teardown),
		cmocka_unit_test(test_status_render),
		cmocka_unit_test_setup_teardown(test_status_command, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forwarded_command_ignored,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mute_button_long_source,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mute_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mute_mutes_unmute, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_start_and_updates,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_restart_keeps_offset,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_webhook, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poller_conflict_backoff,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_rate_limited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poller_unauthorized, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poller_result_not_list,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_old_updates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_poller_failed_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poller_disabled_and_transient,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
