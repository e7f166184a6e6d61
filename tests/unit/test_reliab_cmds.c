/*
 * test_reliab_cmds.c - unit tests for the command parts of issue 16
 * (commands/commands.c, commands/cmd_alerts.c) over the real store:
 * - refusals to strangers have a global budget: 40 strangers taking
 *   turns get CMD_REFUSE_BUDGET answers a minute in all (item 6);
 * - /alerts and /alert in a group show only alerts routed to that group
 *   and only its delivery; a private chat sees everything (item 5).
 * The outbox and dispatch are faked: replies are recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
#include "bot/stats.c"
#include "bot/mutes.c"
#include "bot/chats.c"
#include "commands/commands.c"
#include "commands/cmd_help.c"
#include "commands/cmd_status.c"
#include "commands/cmd_alerts.c"
#include "commands/cmd_retry.c"
#include "commands/cmd_mute.c"
#include "commands/cmd_ack.c"
#include "commands/cmd_silence.c"
#include "tests/unit/fake_amclient.h"

#include "fixture.h"

#define GROUP (-1001000000001LL)   /* gets everything */
#define SECRET (-1001000000077LL)  /* a restricted route's chat */
#define ADMIN 111LL
#define VIEWER 222LL
#define T0 1700000000000LL

/* --- fakes: the outbox records, dispatch does nothing --- */

static struct {
	int64_t chat[512];
	char *text[512];
	size_t n;
	size_t answers; /* answerCallbackQuery */
} out;

int outbox_reply(struct outbox *ob, int64_t chat, int64_t thread,
		 const char *html, const char *markup, int64_t reply_to)
{
	assert_true(out.n < ARRAY_LEN(out.text));
	out.chat[out.n] = chat;
	out.text[out.n++] = strdup(html);
	return 0;
}

int outbox_answer_callback(struct outbox *ob, const char *callback_id,
			   const char *text)
{
	out.answers++;
	return 0;
}

void dispatch_retry_now(struct dispatch *ds)
{
}

void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id)
{
}

void dispatch_refresh_alerts(struct dispatch *ds, const int64_t *ids,
			     size_t n)
{
}

static cJSON *status_json(void *arg)
{
	return cJSON_CreateObject();
}

static void out_clear(void)
{
	for (size_t i = 0; i < out.n; i++)
		free(out.text[i]);
	memset(&out, 0, sizeof(out));
}

/* --- fixture --- */

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct clock clk;
	struct store *st;
	struct chats *chats;
	struct mutes *mutes;
	struct stats stats;
	struct cmd_deps deps;
	struct cmd_env env;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "cmds") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	setenv("TZ", "UTC", 1);
	fake_log_reset();
	config_defaults(&f->cfg);
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.routes[0].chats[f->cfg.routes[0].nchats++] = SECRET;
	str_copy(f->cfg.routes[0].source, "vault*",
		 sizeof(f->cfg.routes[0].source));
	f->cfg.nroutes = 1;
	f->cfg.admins[f->cfg.nadmins++] = ADMIN;
	f->cfg.viewers[f->cfg.nviewers++] = VIEWER;
	f->clk.now = 5000000;
	f->clk.wall = T0;
	if (store_open(&f->st, f->path, T0, err, sizeof(err)) != 0)
		return -1;
	f->chats = chats_new(f->st);
	f->mutes = mutes_new(f->st, &f->clk);
	chats_load(f->chats, &f->cfg);
	stats_init(&f->stats);
	f->deps = (struct cmd_deps){
		.cfg = &f->cfg, .clk = &f->clk, .store = f->st,
		.chats = f->chats, .mutes = f->mutes, .stats = &f->stats,
		.status = status_json,
	};
	f->env.deps = &f->deps;
	str_copy(f->env.bot_name, "opsbot", sizeof(f->env.bot_name));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	out_clear();
	mutes_free(f->mutes);
	chats_free(f->chats);
	store_close(f->st);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static void say(struct fx *f, int64_t user, int64_t chat, const char *text)
{
	char json[1024];
	cJSON *u;

	snprintf(json, sizeof(json), "{\"update_id\":1,\"message\":{"
		 "\"message_id\":5,\"date\":1700000000,\"text\":\"%s\","
		 "\"from\":{\"id\":%lld,\"is_bot\":false,\"first_name\":\"x\"},"
		 "\"chat\":{\"id\":%lld,\"type\":\"%s\"}}}", text,
		 (long long)user, (long long)chat,
		 chat > 0 ? "private" : "supergroup");
	assert_non_null(u = cJSON_Parse(json));
	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
	assert_int_equal(store_commit(f->st), 0);
}

static void press(struct fx *f, int64_t user)
{
	char json[512];
	cJSON *u;

	snprintf(json, sizeof(json), "{\"update_id\":2,\"callback_query\":{"
		 "\"id\":\"cb%lld\",\"data\":\"ack:1\",\"from\":{\"id\":%lld,"
		 "\"is_bot\":false,\"first_name\":\"x\"},\"message\":{"
		 "\"message_id\":9,\"chat\":{\"id\":%lld,\"type\":"
		 "\"supergroup\"}}}}", (long long)user, (long long)user,
		 (long long)GROUP);
	assert_non_null(u = cJSON_Parse(json));
	commands_handle_update(&f->env, u);
	cJSON_Delete(u);
}

static int64_t add(struct fx *f, const char *source, const char *title,
		   int64_t chat)
{
	struct dest d = { chat, 0 };
	struct alert a;
	int64_t id;

	fx_alert(&a, SEV_ERROR, source, title, "text", f->clk.wall);
	assert_int_equal(store_alert_insert(f->st, &a, &d, 1, DS_PENDING, 0),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	id = a.id;
	alert_free(&a);
	return id;
}

static const char *last(void)
{
	assert_true(out.n > 0);
	return out.text[out.n - 1];
}

/* --- item 6 --- */

static void test_refusals_have_a_global_budget(void **state)
{
	struct fx *f = *state;
	size_t in_first_minute;

	/* 40 strangers, each in their private chat, in turn for 3 minutes:
	 * one message a second in all */
	for (int s = 0; s < 180; s++) {
		int64_t who = 900000 + s % 40;

		say(f, who, who, "/status");
		f->clk.now += 1000;
		f->clk.wall += 1000;
		if (s == 59)
			in_first_minute = out.n;
	}
	assert_int_equal(in_first_minute, CMD_REFUSE_BUDGET);
	assert_true(out.n <= 3 * CMD_REFUSE_BUDGET);
	assert_true(out.n >= 2 * CMD_REFUSE_BUDGET);
	for (size_t i = 0; i < out.n; i++)
		assert_non_null(strstr(out.text[i], "not authorised"));
	/* a stranger's button press is always answered (an answer is not
	 * a message: no chat's budget, and the client stops spinning), and
	 * never with a message */
	out_clear();
	for (int i = 0; i < 20; i++)
		press(f, 800000 + i);
	assert_int_equal(out.answers, 20);
	assert_int_equal(out.n, 0);
	/* operators are never held by it */
	say(f, ADMIN, ADMIN, "/help");
	assert_int_equal(out.n, 1);
	assert_null(strstr(last(), "not authorised"));
}

/* --- item 5 --- */

static void test_group_lists_only_its_alerts(void **state)
{
	struct fx *f = *state;
	int64_t pub, secret;
	char cmd[32];

	pub = add(f, "web1", "public-alert", GROUP);
	secret = add(f, "vault1", "secret-alert", SECRET);

	say(f, VIEWER, GROUP, "/alerts");
	assert_non_null(strstr(last(), "public-alert"));
	assert_null(strstr(last(), "secret-alert"));
	say(f, ADMIN, GROUP, "/alerts");
	assert_null(strstr(last(), "secret-alert"));

	snprintf(cmd, sizeof(cmd), "/alert %lld", (long long)secret);
	say(f, ADMIN, GROUP, cmd);
	assert_null(strstr(last(), "secret-alert"));
	assert_non_null(strstr(last(), "No such alert"));
	snprintf(cmd, sizeof(cmd), "/alert %lld", (long long)pub);
	say(f, VIEWER, GROUP, cmd);
	assert_non_null(strstr(last(), "public-alert"));

	/* the restricted chat sees its own */
	say(f, ADMIN, SECRET, "/alerts");
	assert_non_null(strstr(last(), "secret-alert"));
	assert_null(strstr(last(), "public-alert"));

	/* private chats: everything, for admins and viewers */
	say(f, ADMIN, ADMIN, "/alerts");
	assert_non_null(strstr(last(), "secret-alert"));
	assert_non_null(strstr(last(), "public-alert"));
	say(f, VIEWER, VIEWER, "/alerts");
	assert_non_null(strstr(last(), "secret-alert"));
	snprintf(cmd, sizeof(cmd), "/alert %lld", (long long)secret);
	say(f, ADMIN, ADMIN, cmd);
	assert_non_null(strstr(last(), "secret-alert"));
}

/* An alert routed to both: the group sees only its own delivery. */
static void test_group_sees_only_its_delivery(void **state)
{
	struct fx *f = *state;
	struct dest d[2] = { { GROUP, 0 }, { SECRET, 0 } };
	struct delivery dl;
	struct alert a;
	char cmd[32], secret_id[32];

	fx_alert(&a, SEV_ERROR, "vault2", "both-alert", "text", f->clk.wall);
	assert_int_equal(store_alert_insert(f->st, &a, d, 2, DS_PENDING, 0), 0);
	assert_int_equal(store_deliveries(f->st, a.id, &dl, 1), 1);
	assert_int_equal(store_commit(f->st), 0);
	snprintf(cmd, sizeof(cmd), "/alert %lld", (long long)a.id);
	snprintf(secret_id, sizeof(secret_id), "%lld", (long long)SECRET);
	alert_free(&a);
	say(f, ADMIN, GROUP, cmd);
	assert_non_null(strstr(last(), "both-alert"));
	assert_null(strstr(last(), secret_id));
	say(f, ADMIN, ADMIN, cmd);
	assert_non_null(strstr(last(), secret_id));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_refusals_have_a_global_budget),
		T(test_group_lists_only_its_alerts),
		T(test_group_sees_only_its_delivery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
