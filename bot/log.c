/*
 * log.c - leveled stderr logging with token redaction. See log.h.
 */
#include "bot/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static int with_time = 1;

void log_init(enum log_level level, int timestamps)
{
	cur_level = level;
	with_time = timestamps;
}

void log_set_level(enum log_level level)
{
	cur_level = level;
}

void log_set_secret(const char *s)
{
	redact_set_secret(s);
}

static void vlog(enum log_level lvl, int with_errno, const char *fmt,
		 va_list ap)
{
	static const char *tags[] = { "error", "warn", "info", "debug" };
	static const int prio[] = { 3, 4, 6, 7 }; /* syslog levels */
	char line[2048], stamp[32] = "";
	int saved = errno;
	size_t n;

	if (lvl > cur_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (with_errno && n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
	redact_all(line);
	if (with_time) {
		time_t t = time(NULL);
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S ", &tm);
	}
	if (with_time)
		fprintf(stderr, "%sopsbot %s: %s\n", stamp, tags[lvl], line);
	else /* journald: "<N>" sets the priority, it adds the time itself */
		fprintf(stderr, "<%d>%s: %s\n", prio[lvl], tags[lvl], line);
	errno = saved;
}

#define LOGFN(name, lvl, en)                                                   \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(lvl, en, fmt, ap);                                        \
		va_end(ap);                                                    \
	}

LOGFN(log_debug, LOG_LVL_DEBUG, 0)
LOGFN(log_info, LOG_LVL_INFO, 0)
LOGFN(log_warn, LOG_LVL_WARN, 1)
LOGFN(log_warnx, LOG_LVL_WARN, 0)
LOGFN(log_error, LOG_LVL_ERROR, 0)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
