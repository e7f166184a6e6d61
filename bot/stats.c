/*
 * stats.c - process-local counters, histograms and sliding windows
 * (see stats.h). Every function is O(1) or bounded by a small constant:
 * they run on the loop for every alert and every Telegram answer.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <string.h>

#include "bot/stats.h"
#include "bot/util.h"

#define MINUTE_MS 60000
#define HOUR_MS 3600000
#define DAY_MS (24 * (int64_t)HOUR_MS)

const int64_t stats_attempt_bounds[ST_ATTEMPT_BOUNDS] = { 1, 2, 3, 5, 10 };
const int64_t stats_latency_bounds_ms[ST_LATENCY_BOUNDS] = {
	1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 30000, 60000, 300000,
	900000, 3600000
};

static const char *const transport_names[ST_TRANSPORT_COUNT] = {
	"socket", "http"
};
static const char *const intake_names[ST_INTAKE_COUNT] = {
	"accepted", "refused", "muted"
};
static const char *const delivery_names[ST_DELIVERY_COUNT] = {
	"sent", "failed", "expired"
};
static const char *const retry_names[ST_RETRY_COUNT] = {
	"timeout", "5xx", "429", "network", "other"
};
static const char *const method_names[ST_METHOD_COUNT] = {
	"sendMessage", "editMessageText", "getUpdates", "answerCallbackQuery",
	"setMyCommands", "deleteWebhook", "getMe", "other"
};
/* The HTTP status of each enum stat_code but the first and last. */
static const long code_values[ST_CODE_COUNT] = {
	0, 200, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504, -1
};
static const char *const code_names[ST_CODE_COUNT] = {
	"0", "200", "400", "401", "403", "404", "409", "413", "429", "500",
	"502", "503", "504", "other"
};
static const char *const cmd_result_names[ST_CMD_RESULT_COUNT] = {
	"ok", "refused", "error"
};

/* Out-of-range enums (a caller's bug) must not write outside the arrays;
 * they are folded into the last value, which is always a catch-all or
 * harmless. */
#define CLAMP_ENUM(v, count) \
	((unsigned)(v) < (unsigned)(count) ? (v) : (count) - 1)

void stats_init(struct stats *s)
{
	memset(s, 0, sizeof(*s));
}

void stats_alert(struct stats *s, enum stat_transport t, enum stat_intake r)
{
	s->alerts[CLAMP_ENUM(t, ST_TRANSPORT_COUNT)]
		 [CLAMP_ENUM(r, ST_INTAKE_COUNT)]++;
}

/* The slot of the ring for time now, cleared if it last held an older
 * bucket: rings need no ticking, a stale slot is recycled on first use. */
static struct stat_slot *slot_at(struct stat_slot *ring, size_t n,
				 int64_t width, int64_t now)
{
	int64_t idx = (now < 0 ? 0 : now) / width;
	struct stat_slot *sl = &ring[idx % (int64_t)n];

	if (sl->key != idx + 1) {
		memset(sl, 0, sizeof(*sl));
		sl->key = idx + 1;
		sl->slowest_ms = -1;
	}
	return sl;
}

/* Calls fn on the minute and the hour slot of now. */
static void slots_each(struct stats *s, int64_t now,
		       void (*fn)(struct stat_slot *, const void *),
		       const void *arg)
{
	fn(slot_at(s->minutes, ST_MINUTES, MINUTE_MS, now), arg);
	fn(slot_at(s->hours, ST_HOURS, HOUR_MS, now), arg);
}

struct delivery_ev {
	enum stat_delivery r;
	int attempts;
	int64_t latency_ms;
};

static void slot_delivery(struct stat_slot *sl, const void *arg)
{
	const struct delivery_ev *ev = arg;

	sl->deliveries[ev->r]++;
	if (ev->attempts > 1)
		sl->retried++;
	if (ev->r == ST_DELIVERY_SENT && ev->latency_ms > sl->slowest_ms)
		sl->slowest_ms = ev->latency_ms;
}

static void slot_retry(struct stat_slot *sl, const void *arg)
{
	sl->retries[*(const enum stat_retry *)arg]++;
}

/* Index of the first bound >= v (n when above all: the +Inf bucket). */
static size_t bucket_of(const int64_t *bounds, size_t n, int64_t v)
{
	size_t i = 0;

	while (i < n && v > bounds[i])
		i++;
	return i;
}

void stats_delivery(struct stats *s, int64_t now, enum stat_delivery r,
		    int attempts, int64_t latency_ms)
{
	struct delivery_ev ev = { CLAMP_ENUM(r, ST_DELIVERY_COUNT),
				  attempts < 1 ? 1 : attempts, latency_ms };

	s->deliveries[ev.r]++;
	s->attempts.bucket[bucket_of(stats_attempt_bounds, ST_ATTEMPT_BOUNDS,
				     ev.attempts)]++;
	s->attempts.sum += (uint64_t)ev.attempts;
	s->attempts.count++;
	if (ev.r == ST_DELIVERY_SENT && latency_ms >= 0) {
		s->latency.bucket[bucket_of(stats_latency_bounds_ms,
					    ST_LATENCY_BOUNDS, latency_ms)]++;
		s->latency.sum_ms += (uint64_t)latency_ms;
		s->latency.count++;
	} else {
		ev.latency_ms = -1;
	}
	slots_each(s, now, slot_delivery, &ev);
}

void stats_seed(struct stats *s, enum stat_delivery r, uint64_t n)
{
	s->deliveries[CLAMP_ENUM(r, ST_DELIVERY_COUNT)] += n;
}

void stats_retry(struct stats *s, int64_t now, enum stat_retry why)
{
	why = CLAMP_ENUM(why, ST_RETRY_COUNT);
	s->retries[why]++;
	slots_each(s, now, slot_retry, &why);
}

enum stat_retry stats_retry_reason(long http_status, int curl_code)
{
	if (http_status == 429)
		return ST_RETRY_429;
	if (http_status >= 500 && http_status <= 599)
		return ST_RETRY_5XX;
	if (http_status == 0 && curl_code == CURLE_OPERATION_TIMEDOUT)
		return ST_RETRY_TIMEOUT;
	if (http_status == 0 && curl_code != CURLE_OK)
		return ST_RETRY_NETWORK;
	return ST_RETRY_OTHER;
}

static enum stat_code code_of(long http_status)
{
	for (int c = 0; c < ST_CODE_OTHER; c++)
		if (code_values[c] == http_status)
			return (enum stat_code)c;
	return ST_CODE_OTHER;
}

void stats_tg_request(struct stats *s, enum stat_method m, long http_status)
{
	s->tg_requests[CLAMP_ENUM(m, ST_METHOD_COUNT)][code_of(http_status)]++;
}

enum stat_method stats_method(const char *name)
{
	for (int m = 0; name && m < ST_METHOD_OTHER; m++)
		if (strcmp(method_names[m], name) == 0)
			return (enum stat_method)m;
	return ST_METHOD_OTHER;
}

void stats_tg_rate_limited(struct stats *s, int64_t retry_after_s)
{
	s->tg_429++;
	if (retry_after_s > 0)
		s->tg_retry_after_s += (uint64_t)retry_after_s;
}

void stats_tg_ok(struct stats *s, int64_t wall)
{
	s->tg_last_ok_wall = wall;
}

void stats_tg_error(struct stats *s, int64_t wall, const char *text)
{
	s->tg_last_err_wall = wall;
	str_copy(s->tg_last_err, text ? text : "", sizeof(s->tg_last_err));
	redact_token(s->tg_last_err);
}

/* The command's counters: its own slot, a new one, or NULL for "other". */
static struct stat_command *command_slot(struct stats *s, const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return NULL;
	for (i = 0; i < s->ncommands; i++)
		if (strncmp(s->commands[i].name, name, ST_COMMAND_NAME) == 0)
			return &s->commands[i];
	if (s->ncommands == ST_MAX_COMMANDS ||
	    strlen(name) >= ST_COMMAND_NAME)
		return NULL;
	str_copy(s->commands[s->ncommands].name, name, ST_COMMAND_NAME);
	return &s->commands[s->ncommands++];
}

void stats_command(struct stats *s, const char *name, enum stat_cmd_result r)
{
	struct stat_command *c = command_slot(s, name);

	r = CLAMP_ENUM(r, ST_CMD_RESULT_COUNT);
	if (c)
		c->result[r]++;
	else
		s->commands_other[r]++;
}

static void window_add(struct stats_window *out, const struct stat_slot *sl)
{
	for (int i = 0; i < ST_DELIVERY_COUNT; i++)
		out->deliveries[i] += sl->deliveries[i];
	for (int i = 0; i < ST_RETRY_COUNT; i++)
		out->retries[i] += sl->retries[i];
	out->retried += sl->retried;
	if (sl->slowest_ms > out->slowest_ms)
		out->slowest_ms = sl->slowest_ms;
}

/* Sums the nb most recent buckets (the current one included) of a ring;
 * slots holding older or newer buckets than that are skipped. */
static void window_sum(const struct stat_slot *ring, size_t n, int64_t width,
		       int64_t now, int64_t nb, struct stats_window *out)
{
	int64_t cur = (now < 0 ? 0 : now) / width + 1;

	for (size_t i = 0; i < n; i++) {
		int64_t key = ring[i].key;

		if (key != 0 && key <= cur && key > cur - nb)
			window_add(out, &ring[i]);
	}
	out->span_ms = nb * width;
}

void stats_window(const struct stats *s, int64_t now, int64_t span_ms,
		  struct stats_window *out)
{
	memset(out, 0, sizeof(*out));
	out->slowest_ms = -1;
	if (span_ms < 1)
		span_ms = 1;
	if (span_ms > DAY_MS)
		span_ms = DAY_MS;
	if (span_ms <= HOUR_MS)
		window_sum(s->minutes, ST_MINUTES, MINUTE_MS, now,
			   (span_ms + MINUTE_MS - 1) / MINUTE_MS, out);
	else
		window_sum(s->hours, ST_HOURS, HOUR_MS, now,
			   (span_ms + HOUR_MS - 1) / HOUR_MS, out);
}

/* Seconds since wall_then, or -1 when it never happened. */
static double age_s(int64_t wall, int64_t wall_then)
{
	return wall_then ? (double)((wall - wall_then) / 1000) : -1;
}

static uint64_t alerts_sum(const struct stats *s, enum stat_intake r)
{
	uint64_t n = 0;

	for (int t = 0; t < ST_TRANSPORT_COUNT; t++)
		n += s->alerts[t][r];
	return n;
}

static int window_json(const struct stats *s, int64_t now, int64_t span_ms,
		       cJSON *parent, const char *key)
{
	struct stats_window w;
	cJSON *o = cJSON_AddObjectToObject(parent, key), *r;
	int ok = o != NULL;

	stats_window(s, now, span_ms, &w);
	for (int i = 0; ok && i < ST_DELIVERY_COUNT; i++)
		ok = cJSON_AddNumberToObject(o, delivery_names[i],
					     (double)w.deliveries[i]) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "retried",
					   (double)w.retried) != NULL;
	r = ok ? cJSON_AddObjectToObject(o, "retries") : NULL;
	ok = r != NULL;
	for (int i = 0; ok && i < ST_RETRY_COUNT; i++)
		ok = cJSON_AddNumberToObject(r, retry_names[i],
					     (double)w.retries[i]) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "slowest_ms",
					   (double)w.slowest_ms) != NULL;
	return ok ? 0 : -1;
}

int stats_status_json(const struct stats *s, int64_t now, int64_t wall,
		      cJSON *api, cJSON *o)
{
	cJSON *d;
	int ok;

	ok = cJSON_AddNumberToObject(api, "last_ok_age_s",
				     age_s(wall, s->tg_last_ok_wall)) != NULL;
	ok = ok && cJSON_AddStringToObject(api, "last_error",
					   s->tg_last_err) != NULL;
	ok = ok && cJSON_AddNumberToObject(api, "last_error_age_s",
			age_s(wall, s->tg_last_err_wall)) != NULL;
	ok = ok && cJSON_AddNumberToObject(api, "rate_limited",
					   (double)s->tg_429) != NULL;
	/* "sent" has always meant messages Telegram accepted. */
	ok = ok && cJSON_AddNumberToObject(api, "sent",
			(double)s->tg_requests[ST_METHOD_SEND_MESSAGE]
					      [ST_CODE_200]) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "alerts_accepted",
			(double)(alerts_sum(s, ST_INTAKE_ACCEPTED) +
				 alerts_sum(s, ST_INTAKE_MUTED))) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "alerts_rejected",
			(double)alerts_sum(s, ST_INTAKE_REFUSED)) != NULL;
	d = ok ? cJSON_AddObjectToObject(o, "deliveries") : NULL;
	ok = d != NULL;
	ok = ok && window_json(s, now, HOUR_MS, d, "hour") == 0;
	ok = ok && window_json(s, now, DAY_MS, d, "day") == 0;
	return ok ? 0 : -1;
}

const char *stats_transport_name(enum stat_transport t)
{
	return transport_names[CLAMP_ENUM(t, ST_TRANSPORT_COUNT)];
}

const char *stats_intake_name(enum stat_intake r)
{
	return intake_names[CLAMP_ENUM(r, ST_INTAKE_COUNT)];
}

const char *stats_delivery_name(enum stat_delivery r)
{
	return delivery_names[CLAMP_ENUM(r, ST_DELIVERY_COUNT)];
}

const char *stats_retry_name(enum stat_retry r)
{
	return retry_names[CLAMP_ENUM(r, ST_RETRY_COUNT)];
}

const char *stats_method_name(enum stat_method m)
{
	return method_names[CLAMP_ENUM(m, ST_METHOD_COUNT)];
}

const char *stats_code_name(enum stat_code c)
{
	return code_names[CLAMP_ENUM(c, ST_CODE_COUNT)];
}

const char *stats_cmd_result_name(enum stat_cmd_result r)
{
	return cmd_result_names[CLAMP_ENUM(r, ST_CMD_RESULT_COUNT)];
}
