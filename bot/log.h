/*
 * log.h - the daemon's logger: leveled lines on stderr, OpenBSD style.
 *
 * Only main, the loop and command handlers log; library-like modules
 * return errors into the caller's buffer instead. Every line passes
 * through redact_all(), so a bot token can never be printed.
 */
#ifndef OPSBOT_LOG_H
#define OPSBOT_LOG_H

#include "bot/util.h"

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* timestamps: 1 to prefix lines with the local time (off under journald,
 * which adds its own). */
void log_init(enum log_level level, int timestamps);
void log_set_level(enum log_level level);
/* Also redact this token (its secret, in every form: see redact_secret)
 * from every line; the same registry scrubs Telegram's descriptions. */
void log_set_secret(const char *secret);
void log_debug(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_info(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) ATTR_PRINTF(1, 2);
void log_error(const char *fmt, ...) ATTR_PRINTF(1, 2);
void fatal(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;
void fatalx(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

#endif
