/*
 * stats.h - the one owner of opsbot's process-local counters: what came
 * in, what went out, how Telegram answered, which commands ran. /status,
 * `opsbot status` and /metrics all read from here.
 *
 * Counters are typed families with small fixed label sets (the enums
 * below), so cardinality is bounded by construction. Besides the totals,
 * deliveries and retries are kept in sliding windows (60 one-minute and
 * 24 one-hour buckets) for "last hour / last day" figures.
 *
 * A leaf: no logging, no I/O, no allocation. Time is always passed in
 * (`now` monotonic ms for windows, `wall` ms for the API timestamps).
 * The struct is public so it can be embedded and so metrics.c can read
 * it; only stats.c writes its fields.
 */
#ifndef OPSBOT_STATS_H
#define OPSBOT_STATS_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* Where an alert came in. */
enum stat_transport {
	ST_TRANSPORT_SOCKET,
	ST_TRANSPORT_HTTP,
	ST_TRANSPORT_COUNT
};

/* What intake did with it. */
enum stat_intake {
	ST_INTAKE_ACCEPTED,
	ST_INTAKE_REFUSED,
	ST_INTAKE_MUTED,
	ST_INTAKE_COUNT
};

/* How one delivery (one alert to one chat) finished. */
enum stat_delivery {
	ST_DELIVERY_SENT,
	ST_DELIVERY_FAILED,  /* permanent error */
	ST_DELIVERY_EXPIRED, /* gave up at max_age */
	ST_DELIVERY_COUNT
};

/* Why a delivery was put back for another attempt. */
enum stat_retry {
	ST_RETRY_TIMEOUT,
	ST_RETRY_5XX,
	ST_RETRY_429,
	ST_RETRY_NETWORK,
	ST_RETRY_OTHER,
	ST_RETRY_COUNT
};

/* Bot API methods opsbot calls; anything else counts as ST_METHOD_OTHER. */
enum stat_method {
	ST_METHOD_SEND_MESSAGE,
	ST_METHOD_EDIT_MESSAGE_TEXT,
	ST_METHOD_GET_UPDATES,
	ST_METHOD_ANSWER_CALLBACK_QUERY,
	ST_METHOD_SET_MY_COMMANDS,
	ST_METHOD_DELETE_WEBHOOK,
	ST_METHOD_GET_ME,
	ST_METHOD_OTHER,
	ST_METHOD_COUNT
};

/* HTTP statuses counted one by one; any other lands in ST_CODE_OTHER.
 * ST_CODE_NONE (rendered "0") is a request that got no HTTP answer. */
enum stat_code {
	ST_CODE_NONE,
	ST_CODE_200,
	ST_CODE_400,
	ST_CODE_401,
	ST_CODE_403,
	ST_CODE_404,
	ST_CODE_409,
	ST_CODE_413,
	ST_CODE_429,
	ST_CODE_500,
	ST_CODE_502,
	ST_CODE_503,
	ST_CODE_504,
	ST_CODE_OTHER,
	ST_CODE_COUNT
};

enum stat_cmd_result {
	ST_CMD_OK,
	ST_CMD_REFUSED, /* not allowed here, bad arguments */
	ST_CMD_ERROR,   /* we failed (store, memory) */
	ST_CMD_RESULT_COUNT
};

/* Upper bounds (inclusive, "le") of the histograms; +Inf is implicit. */
#define ST_ATTEMPT_BOUNDS 5 /* 1, 2, 3, 5, 10 */
#define ST_LATENCY_BOUNDS 14 /* 1 ms .. 1 h */
extern const int64_t stats_attempt_bounds[ST_ATTEMPT_BOUNDS];
extern const int64_t stats_latency_bounds_ms[ST_LATENCY_BOUNDS];

#define ST_MAX_COMMANDS 32 /* distinct command names; more go to "other" */
#define ST_COMMAND_NAME 32 /* bytes, with the terminator */
#define ST_LAST_ERROR 256

#define ST_MINUTES 60 /* one-minute buckets: the last hour */
#define ST_HOURS 24   /* one-hour buckets: the last day */

/* Non-cumulative bucket counts: bucket[i] holds values in
 * (bound[i-1], bound[i]]; the last one is +Inf. Sums are integers (ms
 * for latency) so that they stay exact. */
struct stat_hist_attempts {
	uint64_t bucket[ST_ATTEMPT_BOUNDS + 1];
	uint64_t sum;
	uint64_t count;
};

struct stat_hist_latency {
	uint64_t bucket[ST_LATENCY_BOUNDS + 1];
	uint64_t sum_ms;
	uint64_t count;
};

/* One bucket of a sliding window. */
struct stat_slot {
	int64_t key; /* 1 + bucket index since time 0; 0 = never used */
	uint64_t deliveries[ST_DELIVERY_COUNT];
	uint64_t retried; /* finished deliveries that took > 1 attempt */
	uint64_t retries[ST_RETRY_COUNT];
	int64_t slowest_ms; /* slowest sent delivery, receipt to acceptance */
};

struct stat_command {
	char name[ST_COMMAND_NAME];
	uint64_t result[ST_CMD_RESULT_COUNT];
};

struct stats {
	uint64_t alerts[ST_TRANSPORT_COUNT][ST_INTAKE_COUNT];
	uint64_t deliveries[ST_DELIVERY_COUNT];
	uint64_t retries[ST_RETRY_COUNT];
	struct stat_hist_attempts attempts;
	struct stat_hist_latency latency;

	uint64_t tg_requests[ST_METHOD_COUNT][ST_CODE_COUNT];
	uint64_t tg_429;
	uint64_t tg_retry_after_s; /* sum of the retry_after Telegram asked */
	int64_t tg_last_ok_wall;   /* 0 = never */
	int64_t tg_last_err_wall;  /* 0 = never */
	char tg_last_err[ST_LAST_ERROR];

	/* ncommands <= ST_MAX_COMMANDS; commands_other takes the rest. */
	struct stat_command commands[ST_MAX_COMMANDS];
	size_t ncommands;
	uint64_t commands_other[ST_CMD_RESULT_COUNT];

	struct stat_slot minutes[ST_MINUTES];
	struct stat_slot hours[ST_HOURS];
};

/* Figures over a recent span, for people (/status). */
struct stats_window {
	int64_t span_ms; /* what the buckets actually cover (rounded up) */
	uint64_t deliveries[ST_DELIVERY_COUNT];
	uint64_t retried;    /* of those, how many needed more than one try */
	uint64_t retries[ST_RETRY_COUNT];
	int64_t slowest_ms;  /* -1 when nothing was sent in the span */
};

/* All zero; the struct needs nothing else (no free). */
void stats_init(struct stats *s);

void stats_alert(struct stats *s, enum stat_transport t, enum stat_intake r);

/* A delivery finished after `attempts` tries (>= 1). latency_ms, from
 * receipt to Telegram's acceptance, counts only for ST_DELIVERY_SENT
 * (pass -1 otherwise). now: monotonic ms, for the windows. */
void stats_delivery(struct stats *s, int64_t now, enum stat_delivery r,
		    int attempts, int64_t latency_ms);

/* Adds n to a delivery total without touching windows or histograms:
 * for counts read from the store at start (they are facts there). */
void stats_seed(struct stats *s, enum stat_delivery r, uint64_t n);

/* A delivery was scheduled for another attempt. */
void stats_retry(struct stats *s, int64_t now, enum stat_retry why);

/* The reason for a transient failure: http_status 0 means no HTTP answer
 * (then curl_code, a CURLcode, tells a timeout from the rest). */
enum stat_retry stats_retry_reason(long http_status, int curl_code);

/* One Bot API request finished with http_status (0: no answer). */
void stats_tg_request(struct stats *s, enum stat_method m, long http_status);
/* Method name -> enum; unknown names (and NULL) give ST_METHOD_OTHER. */
enum stat_method stats_method(const char *name);
/* A 429 asking to wait retry_after_s seconds (negative counts as 0). */
void stats_tg_rate_limited(struct stats *s, int64_t retry_after_s);
/* A call succeeded / failed, at wall ms. text is copied (cut to fit) with
 * any bot token redacted. */
void stats_tg_ok(struct stats *s, int64_t wall);
void stats_tg_error(struct stats *s, int64_t wall, const char *text);

/* A command ran. name: from the command table (not user text: the first
 * ST_MAX_COMMANDS distinct names get a series each, later ones "other");
 * NULL or "" also counts as "other". */
void stats_command(struct stats *s, const char *name, enum stat_cmd_result r);

/* Figures of the last span_ms (1 ms .. 24 h; clamped) as of now. Spans up
 * to an hour use the minute buckets, longer ones the hour buckets; the
 * current, partial bucket is included, so "the last hour" covers between
 * 59 and 60 minutes and "the last day" between 23 and 24 hours. */
void stats_window(const struct stats *s, int64_t now, int64_t span_ms,
		  struct stats_window *out);

/* For the status report (daemon_status_json, /status, `opsbot status`):
 * adds to api (the "telegram" object) last_ok_age_s and last_error_age_s
 * (-1: never), last_error, rate_limited and sent (sendMessage answered
 * 200), the keys the report has always had; to o alerts_accepted (muted
 * included, as before), alerts_rejected, and a "deliveries" object with
 * "hour" and "day", each {sent, failed, expired, retried, retries:
 * {<reason>: n, ...}, slowest_ms} (slowest_ms -1 when none). 0, or -1
 * when cJSON ran out of memory (what was added stays). */
int stats_status_json(const struct stats *s, int64_t now, int64_t wall,
		      struct cJSON *api, struct cJSON *o);

/* Names used in renderings (metrics labels, status JSON). */
const char *stats_transport_name(enum stat_transport t);
const char *stats_intake_name(enum stat_intake r);
const char *stats_delivery_name(enum stat_delivery r);
const char *stats_retry_name(enum stat_retry r);
const char *stats_method_name(enum stat_method m);
const char *stats_code_name(enum stat_code c);
const char *stats_cmd_result_name(enum stat_cmd_result r);

#endif
