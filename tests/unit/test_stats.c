/*
 * test_stats.c - unit tests for bot/stats.c: counters by label, histogram
 * bucket edges, the sliding windows rolling over with an injected clock,
 * bounded command names, API error text, retry reasons, and the status
 * report's JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bot/util.c"
#include "bot/stats.c"

#define MIN (60 * (int64_t)1000)
#define HOUR (60 * MIN)
#define T0 (1000 * HOUR + 17) /* an arbitrary monotonic start, mid-bucket */

static void test_alert_counters(void **state)
{
	struct stats s;

	(void)state;
	stats_init(&s);
	stats_alert(&s, ST_TRANSPORT_SOCKET, ST_INTAKE_ACCEPTED);
	stats_alert(&s, ST_TRANSPORT_SOCKET, ST_INTAKE_ACCEPTED);
	stats_alert(&s, ST_TRANSPORT_HTTP, ST_INTAKE_REFUSED);
	stats_alert(&s, ST_TRANSPORT_HTTP, ST_INTAKE_MUTED);
	assert_int_equal(s.alerts[ST_TRANSPORT_SOCKET][ST_INTAKE_ACCEPTED], 2);
	assert_int_equal(s.alerts[ST_TRANSPORT_SOCKET][ST_INTAKE_REFUSED], 0);
	assert_int_equal(s.alerts[ST_TRANSPORT_HTTP][ST_INTAKE_REFUSED], 1);
	assert_int_equal(s.alerts[ST_TRANSPORT_HTTP][ST_INTAKE_MUTED], 1);
	assert_int_equal(s.alerts[ST_TRANSPORT_HTTP][ST_INTAKE_ACCEPTED], 0);
	/* A caller's out-of-range enum must stay inside the array. */
	stats_alert(&s, (enum stat_transport)7, (enum stat_intake)9);
	assert_int_equal(s.alerts[ST_TRANSPORT_HTTP][ST_INTAKE_MUTED], 2);
}

static void test_attempts_edges(void **state)
{
	struct stats s;
	/* attempts -> bucket index of le 1, 2, 3, 5, 10, +Inf */
	static const struct { int attempts; size_t bucket; } cases[] = {
		{ 1, 0 }, { 2, 1 }, { 3, 2 }, { 4, 3 }, { 5, 3 }, { 6, 4 },
		{ 10, 4 }, { 11, 5 }, { 1000, 5 }, { 0, 0 } /* counted as 1 */
	};
	uint64_t sum = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		stats_init(&s);
		stats_delivery(&s, T0, ST_DELIVERY_FAILED, cases[i].attempts,
			       -1);
		for (size_t b = 0; b <= ST_ATTEMPT_BOUNDS; b++)
			assert_int_equal(s.attempts.bucket[b],
					 b == cases[i].bucket);
		assert_int_equal(s.attempts.count, 1);
	}
	stats_init(&s);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		stats_delivery(&s, T0, ST_DELIVERY_SENT, cases[i].attempts, 5);
		sum += cases[i].attempts < 1 ? 1 : (uint64_t)cases[i].attempts;
	}
	assert_int_equal(s.attempts.sum, sum);
	assert_int_equal(s.attempts.count, ARRAY_LEN(cases));
	assert_int_equal(s.deliveries[ST_DELIVERY_SENT], ARRAY_LEN(cases));
}

static void test_latency_edges(void **state)
{
	struct stats s;
	/* ms -> bucket: a value equal to a bound belongs to that bound (le). */
	static const struct { int64_t ms; size_t bucket; } cases[] = {
		{ 0, 0 }, { 1, 0 }, { 2, 1 }, { 5, 1 }, { 6, 2 },
		{ 999, 6 }, { 1000, 6 }, { 1001, 7 }, { 3600000, 13 },
		{ 3600001, 14 }
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		stats_init(&s);
		stats_delivery(&s, T0, ST_DELIVERY_SENT, 1, cases[i].ms);
		for (size_t b = 0; b <= ST_LATENCY_BOUNDS; b++)
			assert_int_equal(s.latency.bucket[b],
					 b == cases[i].bucket);
		assert_int_equal(s.latency.sum_ms, cases[i].ms);
		assert_int_equal(s.latency.count, 1);
	}
	/* Failed and expired deliveries have no latency. */
	stats_init(&s);
	stats_delivery(&s, T0, ST_DELIVERY_FAILED, 2, 500);
	stats_delivery(&s, T0, ST_DELIVERY_EXPIRED, 9, 500);
	assert_int_equal(s.latency.count, 0);
	assert_int_equal(s.latency.sum_ms, 0);
	assert_int_equal(s.attempts.count, 2);
}

static void test_seed(void **state)
{
	struct stats s;
	struct stats_window w;

	(void)state;
	stats_init(&s);
	stats_seed(&s, ST_DELIVERY_SENT, 1234);
	stats_seed(&s, ST_DELIVERY_FAILED, 5);
	stats_delivery(&s, T0, ST_DELIVERY_SENT, 1, 10);
	assert_int_equal(s.deliveries[ST_DELIVERY_SENT], 1235);
	assert_int_equal(s.deliveries[ST_DELIVERY_FAILED], 5);
	/* Seeds are history: neither in the histograms nor in the windows. */
	assert_int_equal(s.attempts.count, 1);
	stats_window(&s, T0, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 1);
	assert_int_equal(w.deliveries[ST_DELIVERY_FAILED], 0);
}

static void test_window_hour_rolls(void **state)
{
	struct stats s;
	struct stats_window w;

	(void)state;
	stats_init(&s);
	stats_window(&s, T0, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 0);
	assert_int_equal(w.slowest_ms, -1);

	/* One sent delivery a minute for 90 minutes. */
	for (int m = 0; m < 90; m++)
		stats_delivery(&s, T0 + m * MIN, ST_DELIVERY_SENT, 1, 100);
	/* At minute 89 the last hour holds minutes 30..89. */
	stats_window(&s, T0 + 89 * MIN, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 60);
	assert_int_equal(w.span_ms, HOUR);
	/* The last 10 minutes: 80..89. */
	stats_window(&s, T0 + 89 * MIN, 10 * MIN, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 10);
	/* Nothing new for 30 minutes: half the hour drops out, without any
	 * tick in between. */
	stats_window(&s, T0 + 119 * MIN, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 30);
	/* Two hours of silence: empty, though the slots still hold data. */
	stats_window(&s, T0 + 89 * MIN + 2 * HOUR, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 0);
	assert_int_equal(w.slowest_ms, -1);
	/* A new event reuses its slot, clearing what the slot held. */
	stats_delivery(&s, T0 + 89 * MIN + 2 * HOUR, ST_DELIVERY_FAILED, 1, -1);
	stats_window(&s, T0 + 89 * MIN + 2 * HOUR, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 0);
	assert_int_equal(w.deliveries[ST_DELIVERY_FAILED], 1);
}

static void test_window_minute_edge(void **state)
{
	struct stats s;
	struct stats_window w;
	int64_t start = 5 * HOUR; /* exactly on a minute boundary */

	(void)state;
	stats_init(&s);
	stats_delivery(&s, start - 1, ST_DELIVERY_SENT, 1, 1);
	stats_delivery(&s, start, ST_DELIVERY_SENT, 1, 1);
	/* One minute's span at `start` is the current minute only. */
	stats_window(&s, start, MIN, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 1);
	stats_window(&s, start, MIN + 1, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 2);
	assert_int_equal(w.span_ms, 2 * MIN);
	/* The event of start-1 leaves the hour exactly 60 minutes later. */
	stats_window(&s, start - 1 + 59 * MIN, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 2);
	stats_window(&s, start + 59 * MIN, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 1);
	stats_window(&s, start + 60 * MIN, HOUR, &w);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 0);
}

static void test_window_day(void **state)
{
	struct stats s;
	struct stats_window w;

	(void)state;
	stats_init(&s);
	/* Hourly: a sent delivery whose latency grows, and a retry. */
	for (int h = 0; h < 30; h++) {
		stats_delivery(&s, T0 + h * HOUR, ST_DELIVERY_SENT,
			       h % 2 ? 3 : 1, 1000 + h);
		stats_retry(&s, T0 + h * HOUR, ST_RETRY_5XX);
	}
	stats_delivery(&s, T0 + 29 * HOUR, ST_DELIVERY_EXPIRED, 7, -1);
	stats_window(&s, T0 + 29 * HOUR, 24 * HOUR, &w);
	assert_int_equal(w.span_ms, 24 * HOUR);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 24); /* h 6..29 */
	assert_int_equal(w.deliveries[ST_DELIVERY_EXPIRED], 1);
	assert_int_equal(w.retries[ST_RETRY_5XX], 24);
	assert_int_equal(w.retries[ST_RETRY_429], 0);
	/* h 7, 9, .., 29 took 3 attempts (12), and the expired one. */
	assert_int_equal(w.retried, 13);
	assert_int_equal(w.slowest_ms, 1029);
	/* Longer spans are clamped to a day; spans over an hour round up to
	 * whole hours. */
	stats_window(&s, T0 + 29 * HOUR, 1000 * HOUR, &w);
	assert_int_equal(w.span_ms, 24 * HOUR);
	stats_window(&s, T0 + 29 * HOUR, HOUR + 1, &w);
	assert_int_equal(w.span_ms, 2 * HOUR);
	assert_int_equal(w.deliveries[ST_DELIVERY_SENT], 2);
	/* The slowest of the day moves on when its hour leaves the day. */
	stats_window(&s, T0 + 52 * HOUR, 24 * HOUR, &w);
	assert_int_equal(w.slowest_ms, 1029);
	stats_window(&s, T0 + 53 * HOUR, 24 * HOUR, &w);
	assert_int_equal(w.slowest_ms, -1);
	/* The totals never roll. */
	assert_int_equal(s.retries[ST_RETRY_5XX], 30);
	assert_int_equal(s.deliveries[ST_DELIVERY_SENT], 30);
}

static void test_window_slowest_minutes(void **state)
{
	struct stats s;
	struct stats_window w;

	(void)state;
	stats_init(&s);
	stats_delivery(&s, T0, ST_DELIVERY_SENT, 1, 40000);
	stats_delivery(&s, T0 + MIN, ST_DELIVERY_SENT, 1, 300);
	stats_delivery(&s, T0 + MIN, ST_DELIVERY_FAILED, 1, 999999);
	stats_window(&s, T0 + MIN, HOUR, &w);
	assert_int_equal(w.slowest_ms, 40000);
	stats_window(&s, T0 + MIN, MIN, &w);
	assert_int_equal(w.slowest_ms, 300); /* failed ones do not count */
}

static void test_telegram(void **state)
{
	struct stats s;

	(void)state;
	stats_init(&s);
	assert_int_equal(stats_method("sendMessage"), ST_METHOD_SEND_MESSAGE);
	assert_int_equal(stats_method("getUpdates"), ST_METHOD_GET_UPDATES);
	assert_int_equal(stats_method("getMe"), ST_METHOD_GET_ME);
	assert_int_equal(stats_method("sendPhoto"), ST_METHOD_OTHER);
	assert_int_equal(stats_method("other"), ST_METHOD_OTHER);
	assert_int_equal(stats_method(NULL), ST_METHOD_OTHER);
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 0);
	stats_tg_request(&s, ST_METHOD_GET_UPDATES, 429);
	stats_tg_request(&s, ST_METHOD_GET_UPDATES, 418);
	stats_tg_request(&s, ST_METHOD_GET_UPDATES, -3);
	assert_int_equal(s.tg_requests[ST_METHOD_SEND_MESSAGE][ST_CODE_200], 2);
	assert_int_equal(s.tg_requests[ST_METHOD_SEND_MESSAGE][ST_CODE_NONE], 1);
	assert_int_equal(s.tg_requests[ST_METHOD_GET_UPDATES][ST_CODE_429], 1);
	assert_int_equal(s.tg_requests[ST_METHOD_GET_UPDATES][ST_CODE_OTHER], 2);
	assert_string_equal(stats_code_name(ST_CODE_NONE), "0");
	assert_string_equal(stats_code_name(ST_CODE_504), "504");

	stats_tg_rate_limited(&s, 30);
	stats_tg_rate_limited(&s, 7);
	stats_tg_rate_limited(&s, -5);
	assert_int_equal(s.tg_429, 3);
	assert_int_equal(s.tg_retry_after_s, 37);

	assert_int_equal(s.tg_last_ok_wall, 0);
	stats_tg_ok(&s, 1700000000000);
	assert_int_equal(s.tg_last_ok_wall, 1700000000000);
	stats_tg_error(&s, 1700000001000,
		       "network: https://api.telegram.org/bot123:SECRET/x");
	assert_int_equal(s.tg_last_err_wall, 1700000001000);
	assert_null(strstr(s.tg_last_err, "SECRET"));
	assert_non_null(strstr(s.tg_last_err, "bot123:***"));
	stats_tg_error(&s, 1, NULL);
	assert_string_equal(s.tg_last_err, "");
}

static void test_error_text_cut(void **state)
{
	struct stats s;
	char longer[2 * ST_LAST_ERROR];

	(void)state;
	stats_init(&s);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	stats_tg_error(&s, 5, longer);
	assert_int_equal(strlen(s.tg_last_err), ST_LAST_ERROR - 1);
}

static void test_retry_reason(void **state)
{
	(void)state;
	assert_int_equal(stats_retry_reason(429, 0), ST_RETRY_429);
	assert_int_equal(stats_retry_reason(500, 0), ST_RETRY_5XX);
	assert_int_equal(stats_retry_reason(503, 0), ST_RETRY_5XX);
	assert_int_equal(stats_retry_reason(0, CURLE_OPERATION_TIMEDOUT),
			 ST_RETRY_TIMEOUT);
	assert_int_equal(stats_retry_reason(0, CURLE_COULDNT_CONNECT),
			 ST_RETRY_NETWORK);
	/* An answer that did not parse, or an odd status. */
	assert_int_equal(stats_retry_reason(200, 0), ST_RETRY_OTHER);
	assert_int_equal(stats_retry_reason(0, 0), ST_RETRY_OTHER);
	assert_int_equal(stats_retry_reason(600, 0), ST_RETRY_OTHER);
	assert_string_equal(stats_retry_name(ST_RETRY_5XX), "5xx");
}

static void test_commands_bounded(void **state)
{
	struct stats s;
	char name[16];
	char too_long[ST_COMMAND_NAME + 4];

	(void)state;
	stats_init(&s);
	stats_command(&s, "status", ST_CMD_OK);
	stats_command(&s, "status", ST_CMD_OK);
	stats_command(&s, "mute", ST_CMD_REFUSED);
	assert_int_equal(s.ncommands, 2);
	assert_string_equal(s.commands[0].name, "status");
	assert_int_equal(s.commands[0].result[ST_CMD_OK], 2);
	assert_int_equal(s.commands[1].result[ST_CMD_REFUSED], 1);
	/* A name that does not fit is not cut (two could collide): other. */
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	stats_command(&s, too_long, ST_CMD_ERROR);
	stats_command(&s, NULL, ST_CMD_OK);
	stats_command(&s, "", ST_CMD_OK);
	assert_int_equal(s.ncommands, 2);
	assert_int_equal(s.commands_other[ST_CMD_ERROR], 1);
	assert_int_equal(s.commands_other[ST_CMD_OK], 2);
	/* Past ST_MAX_COMMANDS names, the rest share "other". */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		stats_command(&s, name, ST_CMD_OK);
	}
	assert_int_equal(s.ncommands, ST_MAX_COMMANDS);
	assert_int_equal(s.commands_other[ST_CMD_OK],
			 2 + 100 - (ST_MAX_COMMANDS - 2));
	/* Known names still count in their own series. */
	stats_command(&s, "mute", ST_CMD_OK);
	assert_int_equal(s.commands[1].result[ST_CMD_OK], 1);
}

static double num_at(const cJSON *o, const char *path)
{
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path = dot + 1;
	}
	o = cJSON_GetObjectItemCaseSensitive(o, path);
	assert_true(cJSON_IsNumber(o));
	return o->valuedouble;
}

static void test_status_json(void **state)
{
	struct stats s;
	cJSON *o = cJSON_CreateObject();
	cJSON *api = cJSON_AddObjectToObject(o, "telegram");
	int64_t wall = 1700000000000;

	(void)state;
	stats_init(&s);
	/* Never: ages are -1. */
	assert_int_equal(stats_status_json(&s, T0, wall, api, o), 0);
	assert_true(num_at(api, "last_ok_age_s") == -1);
	assert_true(num_at(api, "last_error_age_s") == -1);
	assert_true(num_at(o, "deliveries.day.slowest_ms") == -1);
	cJSON_Delete(o);

	o = cJSON_CreateObject();
	api = cJSON_AddObjectToObject(o, "telegram");
	stats_tg_ok(&s, wall - 5000);
	stats_tg_error(&s, wall - 90000, "transient: 502 Bad Gateway");
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(&s, ST_METHOD_SEND_MESSAGE, 502);
	stats_tg_rate_limited(&s, 3);
	stats_seed(&s, ST_DELIVERY_SENT, 50);
	stats_delivery(&s, T0 - 2 * HOUR, ST_DELIVERY_SENT, 1, 9000);
	stats_delivery(&s, T0, ST_DELIVERY_SENT, 2, 2500);
	stats_delivery(&s, T0, ST_DELIVERY_FAILED, 1, -1);
	stats_retry(&s, T0, ST_RETRY_5XX);
	stats_alert(&s, ST_TRANSPORT_SOCKET, ST_INTAKE_ACCEPTED);
	stats_alert(&s, ST_TRANSPORT_HTTP, ST_INTAKE_MUTED);
	stats_alert(&s, ST_TRANSPORT_HTTP, ST_INTAKE_REFUSED);
	assert_int_equal(stats_status_json(&s, T0, wall, api, o), 0);
	assert_true(num_at(o, "alerts_accepted") == 2);
	assert_true(num_at(o, "alerts_rejected") == 1);
	assert_true(num_at(api, "last_ok_age_s") == 5);
	assert_true(num_at(api, "last_error_age_s") == 90);
	assert_string_equal(cJSON_GetObjectItem(api, "last_error")->valuestring,
			    "transient: 502 Bad Gateway");
	assert_true(num_at(api, "rate_limited") == 1);
	assert_true(num_at(api, "sent") == 2);
	assert_true(num_at(o, "deliveries.hour.sent") == 1);
	assert_true(num_at(o, "deliveries.hour.failed") == 1);
	assert_true(num_at(o, "deliveries.hour.retried") == 1);
	assert_true(num_at(o, "deliveries.hour.retries.5xx") == 1);
	assert_true(num_at(o, "deliveries.hour.retries.timeout") == 0);
	assert_true(num_at(o, "deliveries.hour.slowest_ms") == 2500);
	assert_true(num_at(o, "deliveries.day.sent") == 2);
	assert_true(num_at(o, "deliveries.day.slowest_ms") == 9000);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alert_counters),
		cmocka_unit_test(test_attempts_edges),
		cmocka_unit_test(test_latency_edges),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_window_hour_rolls),
		cmocka_unit_test(test_window_minute_edge),
		cmocka_unit_test(test_window_day),
		cmocka_unit_test(test_window_slowest_minutes),
		cmocka_unit_test(test_telegram),
		cmocka_unit_test(test_error_text_cut),
		cmocka_unit_test(test_retry_reason),
		cmocka_unit_test(test_commands_bounded),
		cmocka_unit_test(test_status_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
