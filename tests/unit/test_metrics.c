/*
 * test_metrics.c - unit tests for bot/metrics.c: the exact exposition
 * lines of known stats and facts, label escaping, cumulative histogram
 * buckets, HELP/TYPE once per family, the output bound, and /proc parsing
 * from tests/fixtures/proc (run from the repository root, as make does).
 *
 * `test_metrics --dump FILE` writes the exposition of a mixed run (and of
 * the real /proc/self) to FILE instead: tests/unit/check_metrics.sh feeds
 * it to `promtool check metrics`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/util.c"
#include "bot/stats.c"
#include "bot/metrics.c"

#define FIXTURE_PROC "tests/fixtures/proc"
#define OUT_MAX (256 * 1024)

/* A whole line of text, not a prefix of a longer one. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += 1;
	}
	return 0;
}

#define assert_line(text, line) do {                                   \
	if (!has_line((text), (line)))                                 \
		fail_msg("missing line: %s", (line));                  \
} while (0)

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static struct metrics_facts facts_quiet(void)
{
	struct metrics_facts f = {
		.version = "0.1.0",
		.start_wall_ms = 1700000000250,
	};

	return f;
}

/* A mixed run: deliveries, a refused line, a 429, an outage. */
static void stats_mixed(struct stats *s)
{
	int64_t now = 3600000;

	stats_init(s);
	for (int i = 0; i < 5; i++)
		stats_alert(s, ST_TRANSPORT_SOCKET, ST_INTAKE_ACCEPTED);
	stats_alert(s, ST_TRANSPORT_SOCKET, ST_INTAKE_REFUSED);
	stats_alert(s, ST_TRANSPORT_HTTP, ST_INTAKE_ACCEPTED);
	stats_alert(s, ST_TRANSPORT_HTTP, ST_INTAKE_MUTED);
	stats_seed(s, ST_DELIVERY_SENT, 100);
	stats_delivery(s, now, ST_DELIVERY_SENT, 1, 120);    /* le 0.5 */
	stats_delivery(s, now, ST_DELIVERY_SENT, 1, 1);      /* le 0.001 */
	stats_delivery(s, now, ST_DELIVERY_SENT, 2, 1500);   /* le 5 */
	stats_delivery(s, now, ST_DELIVERY_SENT, 4, 61000);  /* le 300 */
	stats_delivery(s, now, ST_DELIVERY_SENT, 12, 7200000); /* +Inf */
	stats_delivery(s, now, ST_DELIVERY_FAILED, 1, -1);
	stats_delivery(s, now, ST_DELIVERY_EXPIRED, 30, -1);
	stats_retry(s, now, ST_RETRY_429);
	stats_retry(s, now, ST_RETRY_TIMEOUT);
	stats_retry(s, now, ST_RETRY_TIMEOUT);
	stats_retry(s, now, ST_RETRY_NETWORK);
	stats_tg_request(s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(s, ST_METHOD_SEND_MESSAGE, 200);
	stats_tg_request(s, ST_METHOD_SEND_MESSAGE, 429);
	stats_tg_request(s, ST_METHOD_SEND_MESSAGE, 0);
	stats_tg_request(s, ST_METHOD_GET_UPDATES, 200);
	stats_tg_request(s, ST_METHOD_OTHER, 418);
	stats_tg_rate_limited(s, 17);
	stats_command(s, "status", ST_CMD_OK);
	stats_command(s, "mute", ST_CMD_REFUSED);
}

static void test_quiet_lines(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	stats_init(&s);
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_line(b.data, "# HELP opsbot_alerts_received_total Alerts "
		    "received, by transport and by what intake did with them.");
	assert_line(b.data, "# TYPE opsbot_alerts_received_total counter");
	assert_line(b.data, "opsbot_alerts_received_total{transport=\"http\","
		    "result=\"muted\"} 0");
	assert_line(b.data, "opsbot_deliveries_total{result=\"expired\"} 0");
	assert_line(b.data, "opsbot_retries_total{reason=\"5xx\"} 0");
	assert_line(b.data, "# TYPE opsbot_delivery_attempts histogram");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"+Inf\"} 0");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"0.001\"} 0");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"3600\"} 0");
	assert_line(b.data, "opsbot_delivery_latency_seconds_sum 0");
	assert_line(b.data, "opsbot_queue_depth 0");
	assert_line(b.data, "opsbot_oldest_pending_seconds 0");
	assert_line(b.data, "# TYPE opsbot_telegram_requests_total counter");
	assert_int_equal(count_of(b.data, "opsbot_telegram_requests_total{"), 0);
	assert_line(b.data, "opsbot_telegram_429_total 0");
	assert_line(b.data, "opsbot_telegram_retry_after_seconds_total 0");
	assert_line(b.data, "opsbot_breaker_open 0");
	assert_line(b.data, "opsbot_api_paused 0");
	assert_line(b.data, "opsbot_chats_failed 0");
	assert_line(b.data, "opsbot_mutes_active 0");
	assert_int_equal(count_of(b.data, "opsbot_commands_total{"), 0);
	assert_line(b.data, "opsbot_build_info{version=\"0.1.0\"} 1");
	assert_line(b.data, "opsbot_start_time_seconds 1700000000.25");
	assert_null(strstr(b.data, "process_"));
	/* Every line ends; nothing else follows the last one. */
	assert_int_equal(b.data[b.len - 1], '\n');
	buf_free(&b);
}

static void test_mixed_lines(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	stats_mixed(&s);
	f.queue_depth = 42;
	f.oldest_pending_ms = 301500;
	f.breaker_open = 1;
	f.api_paused = 7; /* any true value renders as 1 */
	f.chats_failed = 2;
	f.mutes_active = 3;
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_line(b.data, "opsbot_alerts_received_total{transport=\"socket\","
		    "result=\"accepted\"} 5");
	assert_line(b.data, "opsbot_alerts_received_total{transport=\"socket\","
		    "result=\"refused\"} 1");
	assert_line(b.data, "opsbot_alerts_received_total{transport=\"http\","
		    "result=\"accepted\"} 1");
	assert_line(b.data, "opsbot_deliveries_total{result=\"sent\"} 105");
	assert_line(b.data, "opsbot_deliveries_total{result=\"failed\"} 1");
	assert_line(b.data, "opsbot_deliveries_total{result=\"expired\"} 1");
	assert_line(b.data, "opsbot_retries_total{reason=\"timeout\"} 2");
	assert_line(b.data, "opsbot_retries_total{reason=\"429\"} 1");
	assert_line(b.data, "opsbot_retries_total{reason=\"network\"} 1");
	assert_line(b.data, "opsbot_retries_total{reason=\"other\"} 0");
	assert_line(b.data, "opsbot_queue_depth 42");
	assert_line(b.data, "opsbot_oldest_pending_seconds 301.5");
	assert_line(b.data, "opsbot_telegram_requests_total{method="
		    "\"sendMessage\",code=\"200\"} 2");
	assert_line(b.data, "opsbot_telegram_requests_total{method="
		    "\"sendMessage\",code=\"0\"} 1");
	assert_line(b.data, "opsbot_telegram_requests_total{method="
		    "\"sendMessage\",code=\"429\"} 1");
	assert_line(b.data, "opsbot_telegram_requests_total{method="
		    "\"getUpdates\",code=\"200\"} 1");
	assert_line(b.data, "opsbot_telegram_requests_total{method="
		    "\"other\",code=\"other\"} 1");
	assert_int_equal(count_of(b.data, "opsbot_telegram_requests_total{"), 5);
	assert_line(b.data, "opsbot_telegram_429_total 1");
	assert_line(b.data, "opsbot_telegram_retry_after_seconds_total 17");
	assert_line(b.data, "opsbot_breaker_open 1");
	assert_line(b.data, "opsbot_api_paused 1");
	assert_line(b.data, "opsbot_chats_failed 2");
	assert_line(b.data, "opsbot_mutes_active 3");
	assert_line(b.data, "opsbot_commands_total{command=\"status\","
		    "result=\"ok\"} 1");
	assert_line(b.data, "opsbot_commands_total{command=\"status\","
		    "result=\"error\"} 0");
	assert_line(b.data, "opsbot_commands_total{command=\"mute\","
		    "result=\"refused\"} 1");
	assert_null(strstr(b.data, "command=\"other\""));
	buf_free(&b);
}

static void test_histograms_cumulative(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	stats_mixed(&s);
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	/* attempts 1, 1, 2, 4, 12, 1, 30 */
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"1\"} 3");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"2\"} 4");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"3\"} 4");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"5\"} 5");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"10\"} 5");
	assert_line(b.data, "opsbot_delivery_attempts_bucket{le=\"+Inf\"} 7");
	assert_line(b.data, "opsbot_delivery_attempts_sum 51");
	assert_line(b.data, "opsbot_delivery_attempts_count 7");
	/* latencies 0.001, 0.12, 1.5, 61, 7200 s */
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"0.001\"} 1");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"0.1\"} 1");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"0.5\"} 2");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"5\"} 3");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"60\"} 3");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"300\"} 4");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"3600\"} 4");
	assert_line(b.data, "opsbot_delivery_latency_seconds_bucket"
		    "{le=\"+Inf\"} 5");
	assert_line(b.data, "opsbot_delivery_latency_seconds_sum 7262.621");
	assert_line(b.data, "opsbot_delivery_latency_seconds_count 5");
	/* Buckets in increasing order of le, counts never decreasing. */
	{
		const char *p = b.data;
		long prev = -1;
		int n = 0;

		while ((p = strstr(p, "opsbot_delivery_latency_seconds_"
				      "bucket{le=\"")) != NULL) {
			long v = strtol(strchr(p, ' ') + 1, NULL, 10);

			assert_true(v >= prev);
			prev = v;
			n++;
			p++;
		}
		assert_int_equal(n, ST_LATENCY_BOUNDS + 1);
	}
	buf_free(&b);
}

/* Each family: one HELP, then one TYPE, and its samples right after. */
static void test_help_type_once(void **state)
{
	static const char *const families[] = {
		"opsbot_alerts_received_total", "opsbot_deliveries_total",
		"opsbot_delivery_attempts", "opsbot_delivery_latency_seconds",
		"opsbot_retries_total", "opsbot_queue_depth",
		"opsbot_oldest_pending_seconds",
		"opsbot_telegram_requests_total", "opsbot_telegram_429_total",
		"opsbot_telegram_retry_after_seconds_total",
		"opsbot_breaker_open", "opsbot_api_paused",
		"opsbot_chats_failed", "opsbot_mutes_active",
		"opsbot_commands_total", "opsbot_build_info",
		"opsbot_start_time_seconds",
	};
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "", key[128];

	(void)state;
	stats_mixed(&s);
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_int_equal(count_of(b.data, "# HELP "), ARRAY_LEN(families));
	assert_int_equal(count_of(b.data, "# TYPE "), ARRAY_LEN(families));
	for (size_t i = 0; i < ARRAY_LEN(families); i++) {
		const char *help, *type;

		snprintf(key, sizeof(key), "# HELP %s ", families[i]);
		help = strstr(b.data, key);
		assert_non_null(help);
		assert_int_equal(count_of(b.data, key), 1);
		snprintf(key, sizeof(key), "\n# TYPE %s ", families[i]);
		type = strstr(b.data, key);
		assert_non_null(type);
		/* TYPE is the line right after HELP. */
		assert_ptr_equal(strchr(help, '\n'), type);
	}
	buf_free(&b);
}

static void test_escaping(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(metrics_escape(&b, "a\\b\"c\nd"), 0);
	assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
	buf_reset(&b);
	assert_int_equal(metrics_escape(&b, ""), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(metrics_escape(&b, "plain"), 0);
	assert_string_equal(b.data, "plain");
	buf_free(&b);

	stats_init(&s);
	stats_command(&s, "we\"ird\\", ST_CMD_ERROR);
	f.version = "1.0\n\"x\"";
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_line(b.data, "opsbot_commands_total{command=\"we\\\"ird\\\\\","
		    "result=\"error\"} 1");
	assert_line(b.data, "opsbot_build_info{version=\"1.0\\n\\\"x\\\"\"} 1");
	buf_free(&b);
}

static void test_output_bound(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	stats_mixed(&s);
	buf_init(&b, 2000);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2000 bytes"));
	assert_true(b.len <= 2000);
	buf_free(&b);
}

static void test_proc_fixture(void **state)
{
	struct metrics_proc p;
	struct metrics_facts f = facts_quiet();
	struct stats s;
	struct buf b;
	char err[256] = "";

	(void)state;
	assert_int_equal(metrics_read_proc(FIXTURE_PROC, 100, 4096, &p, err,
					   sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_true(p.has_cpu && p.has_memory && p.has_start &&
		    p.has_open_fds && p.has_max_fds);
	/* utime 150 + stime 50 ticks at 100/s */
	assert_true(p.cpu_seconds == 2.0);
	assert_int_equal(p.virtual_bytes, 104857600);
	assert_int_equal(p.resident_bytes, 2560 * 4096);
	/* btime 1700000000 (after a 6 kB "intr" line) + 12345 ticks */
	assert_true(p.start_time_seconds > 1700000123.449 &&
		    p.start_time_seconds < 1700000123.451);
	assert_int_equal(p.open_fds, 4);
	assert_int_equal(p.max_fds, 1024);

	stats_init(&s);
	f.proc = &p;
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_line(b.data, "# TYPE process_cpu_seconds_total counter");
	assert_line(b.data, "process_cpu_seconds_total 2");
	assert_line(b.data, "process_resident_memory_bytes 10485760");
	assert_line(b.data, "process_virtual_memory_bytes 104857600");
	assert_line(b.data, "process_open_fds 4");
	assert_line(b.data, "process_max_fds 1024");
	assert_line(b.data, "process_start_time_seconds 1700000123.45");
	buf_free(&b);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A damaged /proc: what can be read still is, the first problem is told,
 * and an unlimited fd limit is left out rather than invented. */
static void test_proc_partial(void **state)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", sub[600], err[256] = "";
	struct metrics_proc p;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/self", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file(dir, "self/stat", "1 (x) S 1 2 3\n"); /* cut short */
	write_file(dir, "self/limits", "Max open files            unlimited"
		   "            unlimited            files\n");
	assert_int_equal(metrics_read_proc(dir, 100, 4096, &p, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "self/stat: unexpected format"));
	assert_false(p.has_cpu || p.has_memory || p.has_start);
	assert_false(p.has_open_fds); /* no self/fd */
	assert_false(p.has_max_fds);  /* unlimited */

	assert_int_equal(metrics_read_proc("/nonexistent/proc", 100, 4096, &p,
					   err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/proc/self/stat"));
	assert_int_equal(metrics_read_proc(FIXTURE_PROC, 0, 4096, &p, err,
					   sizeof(err)), -1);

	snprintf(sub, sizeof(sub), "%s/self/stat", dir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/self/limits", dir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/self", dir);
	rmdir(sub);
	rmdir(dir);
}

static void test_proc_real(void **state)
{
	struct metrics_proc p;
	char err[256] = "";

	(void)state;
	assert_int_equal(metrics_read_proc("/proc", sysconf(_SC_CLK_TCK),
					   sysconf(_SC_PAGESIZE), &p, err,
					   sizeof(err)), 0);
	assert_true(p.has_cpu && p.has_memory && p.has_start &&
		    p.has_open_fds);
	assert_true(p.open_fds >= 3);
	assert_true(p.resident_bytes > 0);
	assert_true(p.virtual_bytes >= p.resident_bytes);
	assert_true(p.start_time_seconds > 1e9);
}

static const struct metrics_relay_peer relay_peers[2] = {
	{ .url = "http://am1:9093", .queue = 0, .posted = 1000,
	  .reposted = 40, .failures = 0, .dropped = 0, .breaker_open = 0,
	  .last_ok_wall = 1700000000250LL },
	{ .url = "http://am2:9093", .queue = 333, .posted = 667,
	  .reposted = 12, .failures = 9, .dropped = 1, .breaker_open = 1,
	  .last_ok_wall = 0 },
};

/* Relay mode: one sample per peer, in each family; none without peers. */
static void test_relay_lines(void **state)
{
	struct stats s;
	struct metrics_facts f = facts_quiet();
	struct buf b;
	char err[128] = "";

	(void)state;
	stats_mixed(&s);
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_null(strstr(b.data, "opsbot_relay_"));
	buf_free(&b);
	f.relay = relay_peers;
	f.nrelay = 2;
	buf_init(&b, OUT_MAX);
	assert_int_equal(metrics_render(&b, &s, &f, err, sizeof(err)), 0);
	assert_line(b.data, "# TYPE opsbot_relay_queue gauge");
	assert_line(b.data, "opsbot_relay_queue{peer=\"http://am2:9093\"} 333");
	assert_line(b.data, "opsbot_relay_alerts_posted_total{peer="
		    "\"http://am1:9093\"} 1000");
	assert_line(b.data, "opsbot_relay_alerts_reposted_total{peer="
		    "\"http://am2:9093\"} 12");
	assert_line(b.data, "opsbot_relay_post_failures_total{peer="
		    "\"http://am2:9093\"} 9");
	assert_line(b.data, "opsbot_relay_alerts_dropped_total{peer="
		    "\"http://am2:9093\"} 1");
	assert_line(b.data, "opsbot_relay_breaker_open{peer="
		    "\"http://am2:9093\"} 1");
	assert_line(b.data, "opsbot_relay_last_success_timestamp_seconds{peer="
		    "\"http://am1:9093\"} 1700000000.25");
	buf_free(&b);
}

/* --dump: the mixed run with the real process figures, for promtool. */
static int dump(const char *path)
{
	struct metrics_proc p;
	struct metrics_facts f = facts_quiet();
	struct stats s;
	struct buf b;
	char err[256] = "";
	FILE *fp;
	int rc = 0;

	stats_mixed(&s);
	stats_command(&s, "odd\"name\\", ST_CMD_ERROR);
	if (metrics_read_proc("/proc", sysconf(_SC_CLK_TCK),
			      sysconf(_SC_PAGESIZE), &p, err, sizeof(err)) != 0)
		fprintf(stderr, "test_metrics: /proc: %s\n", err);
	f.proc = &p;
	f.queue_depth = 12;
	f.oldest_pending_ms = 95250;
	f.breaker_open = 1;
	f.chats_failed = 1;
	f.relay = relay_peers;
	f.nrelay = 2;
	buf_init(&b, OUT_MAX);
	if (metrics_render(&b, &s, &f, err, sizeof(err)) != 0) {
		fprintf(stderr, "test_metrics: %s\n", err);
		buf_free(&b);
		return 1;
	}
	fp = fopen(path, "w");
	if (fp == NULL || fwrite(b.data, 1, b.len, fp) != b.len)
		rc = 1;
	if (fp && fclose(fp) != 0)
		rc = 1;
	if (rc)
		fprintf(stderr, "test_metrics: cannot write %s\n", path);
	buf_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_lines),
		cmocka_unit_test(test_mixed_lines),
		cmocka_unit_test(test_histograms_cumulative),
		cmocka_unit_test(test_help_type_once),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_proc_fixture),
		cmocka_unit_test(test_proc_partial),
		cmocka_unit_test(test_proc_real),
		cmocka_unit_test(test_relay_lines),
	};

	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
