/*
 * metrics.c - the Prometheus text exposition of opsbot (see metrics.h).
 *
 * Every family gets HELP and TYPE lines, families are never interleaved,
 * counters end in _total, units are base units (seconds, bytes), and
 * label values come from fixed tables except command names and the
 * version, which are escaped. Series of small fixed label sets are always
 * present (0 until something happens, so rate() works from the first
 * scrape); Telegram requests and commands appear once seen.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/metrics.h"

#define PROC_LINE_MAX 1024 /* self/stat is one line of ~300 bytes */
#define NUM_MAX 48         /* one formatted number */

/* The output and whether any append failed (checked once, at the end). */
struct render {
	struct buf *b;
	int failed;
};

int metrics_escape(struct buf *out, const char *v)
{
	const char *run = v;
	int rc = 0;

	for (; *v; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" :
				  *v == '\n' ? "\\n" : NULL;

		if (esc == NULL)
			continue;
		rc |= buf_append(out, run, (size_t)(v - run));
		rc |= buf_append(out, esc, 2);
		run = v + 1;
	}
	rc |= buf_append(out, run, (size_t)(v - run));
	return rc ? -1 : 0;
}

static void put(struct render *r, const char *s)
{
	if (buf_append(r->b, s, strlen(s)) != 0)
		r->failed = 1;
}

static void family(struct render *r, const char *name, const char *type,
		   const char *help)
{
	if (buf_printf(r->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		       type) != 0)
		r->failed = 1;
}

/* name{k1="v1",k2="v2"} value: lab holds nlab key/value pairs. */
static void sample(struct render *r, const char *name,
		   const char *const *lab, size_t nlab, const char *value)
{
	put(r, name);
	for (size_t i = 0; i < nlab; i++) {
		put(r, i == 0 ? "{" : ",");
		put(r, lab[2 * i]);
		put(r, "=\"");
		if (metrics_escape(r->b, lab[2 * i + 1]) != 0)
			r->failed = 1;
		put(r, "\"");
	}
	put(r, nlab ? "} " : " ");
	put(r, value);
	put(r, "\n");
}

static const char *fmt_u64(char *dst, uint64_t v)
{
	snprintf(dst, NUM_MAX, "%" PRIu64, v);
	return dst;
}

static const char *fmt_i64(char *dst, int64_t v)
{
	snprintf(dst, NUM_MAX, "%" PRId64, v);
	return dst;
}

/* Milliseconds as exact decimal seconds: 1 -> "0.001", 1500 -> "1.5". */
static const char *fmt_ms(char *dst, uint64_t ms)
{
	int n = snprintf(dst, NUM_MAX, "%" PRIu64, ms / 1000);

	if (ms % 1000 && n > 0 && n < NUM_MAX - 5) {
		snprintf(dst + n, (size_t)(NUM_MAX - n), ".%03u",
			 (unsigned)(ms % 1000));
		for (n += 3; dst[n] == '0'; n--)
			dst[n] = '\0';
	}
	return dst;
}

static const char *fmt_double(char *dst, double v)
{
	snprintf(dst, NUM_MAX, "%.15g", v);
	return dst;
}

static void gauge_i64(struct render *r, const char *name, const char *help,
		      int64_t v)
{
	char num[NUM_MAX];

	family(r, name, "gauge", help);
	sample(r, name, NULL, 0, fmt_i64(num, v));
}

/* One histogram: bucket[] non-cumulative (nb bounds + the +Inf one),
 * le[] the bounds as label text, sum already formatted. */
static void histogram(struct render *r, const char *name, const char *help,
		      const uint64_t *bucket, const char *const *le, size_t nb,
		      const char *sum, uint64_t count)
{
	char key[96], num[NUM_MAX];
	uint64_t cum = 0;

	family(r, name, "histogram", help);
	snprintf(key, sizeof(key), "%s_bucket", name);
	for (size_t i = 0; i <= nb; i++) {
		const char *lab[2] = { "le", i < nb ? le[i] : "+Inf" };

		cum += bucket[i];
		sample(r, key, lab, 1, fmt_u64(num, cum));
	}
	snprintf(key, sizeof(key), "%s_sum", name);
	sample(r, key, NULL, 0, sum);
	snprintf(key, sizeof(key), "%s_count", name);
	sample(r, key, NULL, 0, fmt_u64(num, count));
}

static void render_alerts(struct render *r, const struct stats *s)
{
	static const char name[] = "opsbot_alerts_received_total";
	char num[NUM_MAX];

	family(r, name, "counter", "Alerts received, by transport and by "
	       "what intake did with them.");
	for (int t = 0; t < ST_TRANSPORT_COUNT; t++)
		for (int i = 0; i < ST_INTAKE_COUNT; i++) {
			const char *lab[4] = {
				"transport", stats_transport_name(t),
				"result", stats_intake_name(i)
			};

			sample(r, name, lab, 2, fmt_u64(num, s->alerts[t][i]));
		}
}

static void render_deliveries(struct render *r, const struct stats *s)
{
	static const char name[] = "opsbot_deliveries_total";
	char num[NUM_MAX];

	family(r, name, "counter", "Deliveries (one alert to one chat) "
	       "finished, by result.");
	for (int i = 0; i < ST_DELIVERY_COUNT; i++) {
		const char *lab[2] = { "result", stats_delivery_name(i) };

		sample(r, name, lab, 1, fmt_u64(num, s->deliveries[i]));
	}
}

static void render_histograms(struct render *r, const struct stats *s)
{
	char att_le[ST_ATTEMPT_BOUNDS][NUM_MAX], lat_le[ST_LATENCY_BOUNDS][NUM_MAX];
	const char *att[ST_ATTEMPT_BOUNDS], *lat[ST_LATENCY_BOUNDS];
	char sum[NUM_MAX];

	for (int i = 0; i < ST_ATTEMPT_BOUNDS; i++)
		att[i] = fmt_i64(att_le[i], stats_attempt_bounds[i]);
	for (int i = 0; i < ST_LATENCY_BOUNDS; i++)
		lat[i] = fmt_ms(lat_le[i], (uint64_t)stats_latency_bounds_ms[i]);
	histogram(r, "opsbot_delivery_attempts", "Attempts per finished "
		  "delivery.", s->attempts.bucket, att, ST_ATTEMPT_BOUNDS,
		  fmt_u64(sum, s->attempts.sum), s->attempts.count);
	histogram(r, "opsbot_delivery_latency_seconds", "Time from receipt "
		  "of an alert to Telegram's acceptance of its message.",
		  s->latency.bucket, lat, ST_LATENCY_BOUNDS,
		  fmt_ms(sum, s->latency.sum_ms), s->latency.count);
}

static void render_retries(struct render *r, const struct stats *s)
{
	static const char name[] = "opsbot_retries_total";
	char num[NUM_MAX];

	family(r, name, "counter", "Deliveries put back for another "
	       "attempt, by reason.");
	for (int i = 0; i < ST_RETRY_COUNT; i++) {
		const char *lab[2] = { "reason", stats_retry_name(i) };

		sample(r, name, lab, 1, fmt_u64(num, s->retries[i]));
	}
}

static void render_queue(struct render *r, const struct metrics_facts *f)
{
	char num[NUM_MAX];

	gauge_i64(r, "opsbot_queue_depth", "Deliveries not yet finished.",
		  f->queue_depth);
	family(r, "opsbot_oldest_pending_seconds", "gauge", "Age of the "
	       "oldest unfinished delivery; 0 when there is none.");
	sample(r, "opsbot_oldest_pending_seconds", NULL, 0,
	       fmt_ms(num, f->oldest_pending_ms > 0 ?
			   (uint64_t)f->oldest_pending_ms : 0));
}

static void render_telegram(struct render *r, const struct stats *s)
{
	static const char name[] = "opsbot_telegram_requests_total";
	char num[NUM_MAX];

	family(r, name, "counter", "Bot API requests, by method and HTTP "
	       "status (0: no answer).");
	for (int m = 0; m < ST_METHOD_COUNT; m++)
		for (int c = 0; c < ST_CODE_COUNT; c++) {
			const char *lab[4] = {
				"method", stats_method_name(m),
				"code", stats_code_name(c)
			};

			if (s->tg_requests[m][c])
				sample(r, name, lab, 2,
				       fmt_u64(num, s->tg_requests[m][c]));
		}
	family(r, "opsbot_telegram_429_total", "counter", "Answers 429 Too "
	       "Many Requests from the Bot API.");
	sample(r, "opsbot_telegram_429_total", NULL, 0,
	       fmt_u64(num, s->tg_429));
	family(r, "opsbot_telegram_retry_after_seconds_total", "counter",
	       "Sum of the retry_after waits the Bot API asked for.");
	sample(r, "opsbot_telegram_retry_after_seconds_total", NULL, 0,
	       fmt_u64(num, s->tg_retry_after_s));
}

static void render_health(struct render *r, const struct metrics_facts *f)
{
	gauge_i64(r, "opsbot_breaker_open", "1 while the circuit breaker "
		  "holds sends back (Telegram unreachable).",
		  f->breaker_open != 0);
	gauge_i64(r, "opsbot_api_paused", "1 while sending is paused after "
		  "a 401 (the bot token was refused).", f->api_paused != 0);
	gauge_i64(r, "opsbot_chats_failed", "Chats marked failed (gone, "
		  "blocked, kicked).", f->chats_failed);
	gauge_i64(r, "opsbot_mutes_active", "Mutes in force.",
		  f->mutes_active);
}

static void command_samples(struct render *r, const char *name,
			    const char *cmd, const uint64_t *result)
{
	char num[NUM_MAX];

	for (int i = 0; i < ST_CMD_RESULT_COUNT; i++) {
		const char *lab[4] = {
			"command", cmd, "result", stats_cmd_result_name(i)
		};

		sample(r, name, lab, 2, fmt_u64(num, result[i]));
	}
}

static void render_commands(struct render *r, const struct stats *s)
{
	static const char name[] = "opsbot_commands_total";
	const uint64_t *o = s->commands_other;

	family(r, name, "counter", "Chat commands run, by command and "
	       "result.");
	for (size_t i = 0; i < s->ncommands && i < ST_MAX_COMMANDS; i++)
		command_samples(r, name, s->commands[i].name,
				s->commands[i].result);
	if (o[ST_CMD_OK] || o[ST_CMD_REFUSED] || o[ST_CMD_ERROR])
		command_samples(r, name, "other", o);
}

static void render_build(struct render *r, const struct metrics_facts *f)
{
	const char *lab[2] = { "version", f->version ? f->version : "" };
	char num[NUM_MAX];

	family(r, "opsbot_build_info", "gauge", "Always 1; the version is "
	       "in the label.");
	sample(r, "opsbot_build_info", lab, 1, "1");
	family(r, "opsbot_start_time_seconds", "gauge", "When opsbot "
	       "started, in seconds since the epoch.");
	sample(r, "opsbot_start_time_seconds", NULL, 0,
	       fmt_ms(num, f->start_wall_ms > 0 ?
			   (uint64_t)f->start_wall_ms : 0));
}

static void render_proc(struct render *r, const struct metrics_proc *p)
{
	char num[NUM_MAX];

	if (p->has_cpu) {
		family(r, "process_cpu_seconds_total", "counter", "Total user "
		       "and system CPU time spent in seconds.");
		sample(r, "process_cpu_seconds_total", NULL, 0,
		       fmt_double(num, p->cpu_seconds));
	}
	if (p->has_memory) {
		family(r, "process_resident_memory_bytes", "gauge", "Resident "
		       "memory size in bytes.");
		sample(r, "process_resident_memory_bytes", NULL, 0,
		       fmt_u64(num, p->resident_bytes));
		family(r, "process_virtual_memory_bytes", "gauge", "Virtual "
		       "memory size in bytes.");
		sample(r, "process_virtual_memory_bytes", NULL, 0,
		       fmt_u64(num, p->virtual_bytes));
	}
	if (p->has_open_fds) {
		family(r, "process_open_fds", "gauge", "Number of open file "
		       "descriptors.");
		sample(r, "process_open_fds", NULL, 0,
		       fmt_u64(num, p->open_fds));
	}
	if (p->has_max_fds) {
		family(r, "process_max_fds", "gauge", "Maximum number of open "
		       "file descriptors.");
		sample(r, "process_max_fds", NULL, 0, fmt_u64(num, p->max_fds));
	}
	if (p->has_start) {
		family(r, "process_start_time_seconds", "gauge", "Start time "
		       "of the process since unix epoch in seconds.");
		sample(r, "process_start_time_seconds", NULL, 0,
		       fmt_double(num, p->start_time_seconds));
	}
}

/* One family with a sample per relay peer; get picks the value. */
static void relay_family(struct render *r, const struct metrics_facts *f,
			 const char *name, const char *type, const char *help,
			 const char *(*get)(const struct metrics_relay_peer *,
					    char *))
{
	char num[NUM_MAX];

	family(r, name, type, help);
	for (size_t i = 0; i < f->nrelay; i++) {
		const char *lab[2] = { "peer", f->relay[i].url };

		sample(r, name, lab, 1, get(&f->relay[i], num));
	}
}

static const char *rp_queue(const struct metrics_relay_peer *p, char *n)
{
	return fmt_i64(n, p->queue);
}

static const char *rp_posted(const struct metrics_relay_peer *p, char *n)
{
	return fmt_u64(n, p->posted);
}

static const char *rp_reposted(const struct metrics_relay_peer *p, char *n)
{
	return fmt_u64(n, p->reposted);
}

static const char *rp_failures(const struct metrics_relay_peer *p, char *n)
{
	return fmt_u64(n, p->failures);
}

static const char *rp_dropped(const struct metrics_relay_peer *p, char *n)
{
	return fmt_u64(n, p->dropped);
}

static const char *rp_breaker(const struct metrics_relay_peer *p, char *n)
{
	return fmt_i64(n, p->breaker_open != 0);
}

static const char *rp_last_ok(const struct metrics_relay_peer *p, char *n)
{
	return fmt_ms(n, (uint64_t)(p->last_ok_wall > 0 ? p->last_ok_wall : 0));
}

/* Relay mode: the Alertmanager peers' counterparts of the deliveries,
 * retries, queue and breaker figures. */
static void render_relay(struct render *r, const struct metrics_facts *f)
{
	relay_family(r, f, "opsbot_relay_queue", "gauge", "Stored alerts an "
		     "Alertmanager peer has not taken yet.", rp_queue);
	relay_family(r, f, "opsbot_relay_alerts_posted_total", "counter",
		     "Alerts an Alertmanager peer accepted (first posts).",
		     rp_posted);
	relay_family(r, f, "opsbot_relay_alerts_reposted_total", "counter",
		     "Firing alerts posted again to keep them alive.",
		     rp_reposted);
	relay_family(r, f, "opsbot_relay_post_failures_total", "counter",
		     "POSTs to an Alertmanager peer that failed (retried).",
		     rp_failures);
	relay_family(r, f, "opsbot_relay_alerts_dropped_total", "counter",
		     "Alerts an Alertmanager peer refused (400), skipped.",
		     rp_dropped);
	relay_family(r, f, "opsbot_relay_breaker_open", "gauge", "1 while the "
		     "circuit breaker of an Alertmanager peer is open.",
		     rp_breaker);
	relay_family(r, f, "opsbot_relay_last_success_timestamp_seconds",
		     "gauge", "When an Alertmanager peer last accepted a POST "
		     "(0: never).", rp_last_ok);
}

int metrics_render(struct buf *out, const struct stats *s,
		   const struct metrics_facts *f, char *err, size_t errlen)
{
	struct render r = { out, 0 };

	render_alerts(&r, s);
	render_deliveries(&r, s);
	render_histograms(&r, s);
	render_retries(&r, s);
	render_queue(&r, f);
	render_telegram(&r, s);
	render_health(&r, f);
	render_commands(&r, s);
	render_build(&r, f);
	if (f->nrelay)
		render_relay(&r, f);
	if (f->proc)
		render_proc(&r, f->proc);
	if (r.failed)
		return err_set(err, errlen, "metrics: output over %zu bytes "
			       "or out of memory", out->max);
	return 0;
}

/* Reading /proc: the first problem is reported, later parts still tried. */
struct proc_read {
	const char *root;
	char *err;
	size_t errlen;
	int rc;
};

static void proc_fail(struct proc_read *pr, const char *fmt, ...)
	ATTR_PRINTF(2, 3);

static void proc_fail(struct proc_read *pr, const char *fmt, ...)
{
	va_list ap;

	if (pr->rc == 0 && pr->err && pr->errlen) {
		va_start(ap, fmt);
		vsnprintf(pr->err, pr->errlen, fmt, ap);
		va_end(ap);
	}
	pr->rc = -1;
}

static FILE *proc_open(struct proc_read *pr, const char *rel)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", pr->root, rel);
	fp = fopen(path, "re");
	if (fp == NULL)
		proc_fail(pr, "%s: %s", path, strerror(errno));
	return fp;
}

/* self/stat: fields after the command (which may hold spaces and
 * parentheses, so parsing starts after the last ')'). Field numbers are
 * proc(5)'s: utime 14, stime 15, starttime 22, vsize 23, rss 24. */
static int proc_parse_stat(const char *text, long ticks, long page,
			   struct metrics_proc *out, uint64_t *start_ticks)
{
	const char *p = strrchr(text, ')');
	unsigned long long f[25] = { 0 };
	char *end;
	int field;

	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return -1;
	p += 3; /* past ") " and the one-letter state (field 3) */
	for (field = 4; field <= 24; field++) {
		f[field] = strtoull(p, &end, 10);
		if (end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -1;
		p = end;
	}
	out->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
	out->virtual_bytes = f[23];
	out->resident_bytes = f[24] * (unsigned long long)page;
	out->has_cpu = out->has_memory = 1;
	*start_ticks = f[22];
	return 0;
}

static void proc_read_stat(struct proc_read *pr, long ticks, long page,
			   struct metrics_proc *out, uint64_t *start_ticks)
{
	char text[PROC_LINE_MAX];
	FILE *fp = proc_open(pr, "self/stat");

	if (fp == NULL)
		return;
	if (fgets(text, sizeof(text), fp) == NULL ||
	    proc_parse_stat(text, ticks, page, out, start_ticks) != 0)
		proc_fail(pr, "%s/self/stat: unexpected format", pr->root);
	fclose(fp);
}

/* Finds the line starting with key (which ends in a space) and returns
 * what follows, cut to the buffer; NULL if no line has it. Lines longer
 * than the buffer (/proc/stat's "intr") are read in pieces; only a piece
 * that starts a line is compared. */
static const char *proc_find_line(FILE *fp, const char *key, char *line,
				  size_t size)
{
	size_t klen = strlen(key);
	int at_start = 1;

	while (fgets(line, (int)size, fp) != NULL) {
		size_t n = strlen(line);

		if (at_start && strncmp(line, key, klen) == 0)
			return line + klen;
		at_start = n > 0 && line[n - 1] == '\n';
	}
	return NULL;
}

/* The process start: boot time ("btime" in /proc/stat) + starttime. */
static void proc_read_start(struct proc_read *pr, long ticks,
			    uint64_t start_ticks, struct metrics_proc *out)
{
	char line[PROC_LINE_MAX], *end;
	FILE *fp = proc_open(pr, "stat");
	const char *v;

	if (fp == NULL)
		return;
	v = proc_find_line(fp, "btime ", line, sizeof(line));
	if (v) {
		unsigned long long btime = strtoull(v, &end, 10);

		if (end != v) {
			out->start_time_seconds = (double)btime +
				(double)start_ticks / (double)ticks;
			out->has_start = 1;
		}
	}
	if (!out->has_start)
		proc_fail(pr, "%s/stat: no btime", pr->root);
	fclose(fp);
}

/* "Max open files  <soft>  <hard>  files": the soft limit, left out when
 * unlimited. */
static void proc_read_limits(struct proc_read *pr, struct metrics_proc *out)
{
	char line[PROC_LINE_MAX], *end;
	FILE *fp = proc_open(pr, "self/limits");
	const char *v;

	if (fp == NULL)
		return;
	v = proc_find_line(fp, "Max open files ", line, sizeof(line));
	while (v && *v == ' ')
		v++;
	if (v && strncmp(v, "unlimited", 9) == 0) {
		fclose(fp);
		return;
	}
	if (v)
		out->max_fds = strtoull(v, &end, 10);
	if (v && end != v)
		out->has_max_fds = 1;
	else
		proc_fail(pr, "%s/self/limits: no \"Max open files\"",
			  pr->root);
	fclose(fp);
}

static void proc_count_fds(struct proc_read *pr, struct metrics_proc *out)
{
	char path[4096];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/self/fd", pr->root);
	dir = opendir(path);
	if (dir == NULL) {
		proc_fail(pr, "%s: %s", path, strerror(errno));
		return;
	}
	out->open_fds = 0;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			out->open_fds++;
	out->has_open_fds = 1;
	closedir(dir);
}

int metrics_read_proc(const char *root, long ticks, long page,
		      struct metrics_proc *out, char *err, size_t errlen)
{
	struct proc_read pr = { root, err, errlen, 0 };
	uint64_t start_ticks = 0;

	memset(out, 0, sizeof(*out));
	if (ticks <= 0 || page <= 0)
		return err_set(err, errlen, "bad tick rate or page size");
	proc_read_stat(&pr, ticks, page, out, &start_ticks);
	if (out->has_cpu)
		proc_read_start(&pr, ticks, start_ticks, out);
	proc_count_fds(&pr, out);
	proc_read_limits(&pr, out);
	return pr.rc;
}
