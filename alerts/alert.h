/*
 * alert.h - one alert: the in-memory form of a socket line and of a row of
 * the alerts table, and the parser/validator for the NDJSON protocol.
 *
 * alert_parse() never logs; it fills the caller's error buffer with
 * "<field>: <what is wrong>", exactly the text sent back to the client.
 */
#ifndef OPSBOT_ALERT_H
#define OPSBOT_ALERT_H

#include <stddef.h>
#include <stdint.h>

enum severity {
	SEV_CRITICAL = 0,
	SEV_ERROR,
	SEV_WARNING,
	SEV_INFO,
	SEV_DEBUG,
	SEV_COUNT
};

enum alert_status { ALERT_FIRING = 0, ALERT_RESOLVED = 1 };

/* Field limits, in bytes of UTF-8. A line as a whole is also capped by the
 * listener (socket.max_line). */
#define ALERT_MAX_SOURCE 256
#define ALERT_MAX_TITLE 1024
#define ALERT_MAX_TEXT 32768
#define ALERT_MAX_KEY 256
#define ALERT_MAX_URL 2048
#define ALERT_MAX_LABELS 32
#define ALERT_MAX_LABEL_NAME 64
#define ALERT_MAX_LABEL_VALUE 512

struct alert {
	int64_t id;          /* store rowid; 0 until stored */
	int64_t received_at; /* wall-clock ms */
	enum severity severity;
	enum alert_status status;
	/* Each string is NUL-terminated valid UTF-8, owned by the alert, and
	 * NULL when absent. title or text is always present after parse. */
	char *source;
	char *title;
	char *text;
	char *key;
	char *url;
	char *labels; /* compact JSON object of string values, or NULL */
	int64_t peer_uid; /* SO_PEERCRED of the writer; -1 if unknown */
	int64_t peer_pid;
	int repeats;      /* times the same firing key came again (store) */
};

/* Parses one line (without its '\n'; len bytes, need not be terminated).
 * Returns 0 and fills *out (caller frees with alert_free) or -1 with a
 * message in err. On -1 *out holds nothing to free.
 *
 * Rules: a JSON object; severity one of critical, error, warning, info,
 * debug (any case, default info); status firing (default) or resolved;
 * text or title required and non-empty; a resolved alert needs key;
 * labels a flat object of at most ALERT_MAX_LABELS string values; url
 * http(s) only; every string valid UTF-8 without NUL and within its limit.
 * Unknown fields are ignored (forward compatibility). */
int alert_parse(const char *line, size_t len, struct alert *out, char *err,
		size_t errlen);

/* Frees the strings of a, not a itself, and zeroes it. */
void alert_free(struct alert *a);

/* "critical" .. "debug"; NULL for out-of-range. */
const char *severity_name(enum severity s);
/* Case-insensitive; -1 if unknown. */
int severity_parse(const char *name);

#endif
