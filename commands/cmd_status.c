/*
 * cmd_status.c - /status: the daemon's health on one phone screen, built
 * from the same JSON report as `opsbot status` (daemon_status_json).
 * Rendering is a pure function of that object so tests feed a fixture.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alerts/format.h"
#include "bot/util.h"
#include "commands/commands.h"

#define STATUS_MAX_FAILED 5 /* failed destinations listed one by one */

static const cJSON *st_get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A number, or def when absent. */
static int64_t st_num(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = st_get(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static const char *st_str(const cJSON *o, const char *key)
{
	const cJSON *v = st_get(o, key);

	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Seconds as "3h05m"; ages of -1 mean "never". */
static void st_age(char *dst, size_t size, int64_t s)
{
	fmt_duration(dst, size, s * 1000);
}

static void st_bytes(char *dst, size_t size, int64_t n)
{
	if (n >= 10 << 20)
		snprintf(dst, size, "%" PRId64 " MB", n >> 20);
	else if (n >= 1 << 20)
		snprintf(dst, size, "%.1f MB", (double)n / (1 << 20));
	else
		snprintf(dst, size, "%" PRId64 " kB", (n + 1023) >> 10);
}

static void st_esc(struct buf *out, const char *s)
{
	html_escape(out, s, strlen(s), 0);
}

static void st_head(const cJSON *s, struct buf *out)
{
	const char *ver = st_str(s, "version");
	char up[32];

	st_age(up, sizeof(up), st_num(s, "uptime_s", 0));
	buf_printf(out, "📊 <b>opsbot ");
	st_esc(out, ver ? ver : "?");
	buf_printf(out, "</b>, up %s\n", up);
}

static void st_api(const cJSON *s, struct buf *out)
{
	const cJSON *t = st_get(s, "telegram");
	const char *breaker = st_str(t, "breaker");
	const char *err = st_str(t, "last_error");
	int64_t ok_age = st_num(t, "last_ok_age_s", -1);
	int64_t err_age = st_num(t, "last_error_age_s", -1);
	char age[32];

	if (cJSON_IsTrue(st_get(t, "unauthorized")))
		buf_printf(out, "Telegram: ⛔ token refused (401), sending "
			   "paused");
	else if (breaker && strcmp(breaker, "closed") == 0)
		buf_printf(out, "Telegram: ✅ up");
	else {
		buf_printf(out, "Telegram: ⚠️ breaker ");
		st_esc(out, breaker ? breaker : "?");
	}
	if (ok_age >= 0) {
		st_age(age, sizeof(age), ok_age);
		buf_printf(out, ", last success %s ago\n", age);
	} else {
		buf_printf(out, ", no success yet\n");
	}
	if (err) {
		st_age(age, sizeof(age), err_age < 0 ? 0 : err_age);
		buf_printf(out, "Last error %s ago: ", age);
		st_esc(out, err);
		buf_printf(out, "\n");
	}
	if ((err = st_str(t, "proxy")) != NULL) {
		buf_printf(out, "Through proxy ");
		st_esc(out, err);
		buf_printf(out, "\n");
	}
}

/* Commands matter only when they do not work: one line then. */
static void st_polling(const cJSON *s, struct buf *out)
{
	const cJSON *p = st_get(s, "polling");
	const char *state = st_str(p, "state"), *err = st_str(p, "last_error");

	if (state == NULL || strcmp(state, "polling") == 0)
		return;
	buf_printf(out, "Commands: ");
	st_esc(out, state);
	if (err) {
		buf_printf(out, " (");
		st_esc(out, err);
		buf_printf(out, ")");
	}
	buf_printf(out, "\n");
}

static void st_queue(const cJSON *s, struct buf *out)
{
	const cJSON *q = st_get(s, "queue");
	int64_t next = st_num(q, "next_retry_in_s", -1);
	int64_t oldest = st_num(q, "oldest_undelivered_age_s", 0);
	char age[32];

	buf_printf(out, "Queue: %" PRId64 " pending, %" PRId64 " retrying",
		   st_num(q, "pending", 0) + st_num(q, "sending", 0),
		   st_num(q, "retrying", 0));
	if (st_num(q, "retrying", 0) > 0 && next >= 0) {
		st_age(age, sizeof(age), next);
		buf_printf(out, " (next in %s)", age);
	}
	buf_printf(out, ", %" PRId64 " failed, %" PRId64 " muted\n",
		   st_num(q, "failed", 0), st_num(q, "muted", 0));
	if (oldest > 0) {
		st_age(age, sizeof(age), oldest);
		buf_printf(out, "Oldest undelivered: %s\n", age);
	}
}

static void st_counts(const cJSON *s, struct buf *out)
{
	const cJSON *t = st_get(s, "telegram");
	char size[32];

	buf_printf(out, "Sent: %" PRId64 " last hour, %" PRId64 " last day; "
		   "429s: %" PRId64 "\n", st_num(s, "sent_last_hour", 0),
		   st_num(s, "sent_last_day", 0), st_num(t, "rate_limited", 0));
	st_bytes(size, sizeof(size), st_num(s, "store_bytes", 0));
	buf_printf(out, "Clients: %" PRId64 "; store: %s; mutes: %" PRId64
		   "\n", st_num(s, "clients", 0), size, st_num(s, "mutes", 0));
	if (st_str(s, "store_error")) {
		buf_printf(out, "⚠️ store: ");
		st_esc(out, st_str(s, "store_error"));
		buf_printf(out, "\n");
	}
}

static void st_failed(const cJSON *s, struct buf *out)
{
	const cJSON *arr = st_get(s, "failed_chats"), *f;
	int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0, i = 0;

	if (n == 0)
		return;
	buf_printf(out, "Failed destinations: %d\n", n);
	cJSON_ArrayForEach(f, arr) {
		const char *why = st_str(f, "reason");

		if (i++ == STATUS_MAX_FAILED) {
			buf_printf(out, "• … %d more\n", n - STATUS_MAX_FAILED);
			break;
		}
		buf_printf(out, "• <code>%" PRId64 "</code>: ",
			   st_num(f, "chat", 0));
		st_esc(out, why ? why : "?");
		buf_printf(out, "\n");
	}
}

/* Retry statistics for people: one line per window. */
static void st_window(const cJSON *s, const char *name, const char *label,
		      struct buf *out)
{
	const cJSON *w = st_get(st_get(s, "deliveries"), name), *r;
	int64_t sent = st_num(w, "sent", 0), failed = st_num(w, "failed", 0);
	int64_t expired = st_num(w, "expired", 0), retried;
	int64_t done = sent + failed + expired, slow = st_num(w, "slowest_ms", -1);
	char age[32];

	if (w == NULL || done == 0)
		return;
	retried = st_num(w, "retried", 0);
	buf_printf(out, "Last %s: %lld sent, %lld failed", label,
		   (long long)sent, (long long)(failed + expired));
	buf_printf(out, ", %lld%% needed a retry",
		   (long long)(retried * 100 / done));
	r = st_get(w, "retries");
	for (const cJSON *it = r ? r->child : NULL; it; it = it->next)
		if (cJSON_IsNumber(it) && it->valuedouble > 0) {
			buf_printf(out, ", %.0f× ", it->valuedouble);
			st_esc(out, it->string);
		}
	if (slow >= 0) {
		fmt_duration(age, sizeof(age), slow);
		buf_printf(out, "; slowest %s", age);
	}
	buf_printf(out, "\n");
}

int cmd_status_render(const cJSON *status, struct buf *out)
{
	st_head(status, out);
	st_api(status, out);
	st_polling(status, out);
	st_queue(status, out);
	st_counts(status, out);
	st_window(status, "hour", "hour", out);
	st_window(status, "day", "day", out);
	st_failed(status, out);
	return out->data ? 0 : -1;
}

void cmd_status_run(struct cmd_ctx *c)
{
	cJSON *status = c->deps->status(c->deps->status_arg);
	struct buf b;

	buf_init(&b, CMD_REPLY_MAX);
	if (status && cmd_status_render(status, &b) == 0)
		cmd_reply(c, b.data);
	else
		cmd_reply(c, "⚠️ status unavailable (out of memory?)");
	cJSON_Delete(status);
	buf_free(&b);
}
