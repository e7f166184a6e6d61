/*
 * fake_log.h - a quiet stand-in for bot/log.c in unit tests that include
 * code which logs (dispatch, commands): counts warnings and errors so a
 * test can assert that the operator was (or was not) told something.
 * Include it once, in the test's translation unit, instead of bot/log.c.
 */
#ifndef OPSBOT_FAKE_LOG_H
#define OPSBOT_FAKE_LOG_H

#include "bot/log.h"

static int fake_log_warnings; /* log_warn + log_warnx */
static int fake_log_errors;   /* log_error */

static void fake_log_reset(void)
{
	fake_log_warnings = 0;
	fake_log_errors = 0;
}

void log_debug(const char *fmt, ...)
{
}

void log_info(const char *fmt, ...)
{
}

void log_warn(const char *fmt, ...)
{
	fake_log_warnings++;
}

void log_warnx(const char *fmt, ...)
{
	fake_log_warnings++;
}

void log_error(const char *fmt, ...)
{
	fake_log_errors++;
}

#endif
