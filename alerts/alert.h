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
#define ALERT_MAX_META 65536

/* cJSON decodes "\u0000" into a NUL that would silently cut a C string.
 * alert_json_parse() (and alert_parse) hand cJSON a copy in which every
 * such escape is six ALERT_NUL_MARK bytes instead: 0xFF never occurs in
 * valid UTF-8, so finding it in a decoded string means "had a NUL". */
#define ALERT_NUL_MARK 0xFF

struct cJSON;

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
	/*
	 * Where the alert came from, for the round trip back to its sender:
	 * a compact JSON object, or NULL (socket and generic HTTP alerts).
	 * Set by the webhook parsers (alerts/webhook.h), at most
	 * ALERT_MAX_META bytes; every member is optional:
	 *   "via":          "alertmanager" | "grafana"
	 *   "fingerprint":  the sender's fingerprint (the key is derived
	 *                   from it)
	 *   "externalURL":  the sender's own URL (http(s) only)
	 *   "startsAt", "endsAt": RFC 3339 strings as sent (endsAt omitted
	 *                   when it is Go's zero time)
	 *   "labels":       every label of the alert, {"name":"value",...}
	 *   "links":        [{"name":"runbook"|"dashboard"|"panel"|"silence",
	 *                    "url":"http(s)://..."}]
	 */
	char *meta;
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

/* Fills *out from one parsed alert object with exactly alert_parse()'s
 * rules (the generic HTTP endpoint validates each array element with it).
 * obj should come from alert_json_parse(): ALERT_NUL_MARK bytes in its
 * strings are reported as NUL characters. Same return and ownership as
 * alert_parse; errors are "<field>: <what is wrong>". */
int alert_from_json(const struct cJSON *obj, struct alert *out, char *err,
		    size_t errlen);

/* Parses a whole request body (any JSON value at the top) after the
 * socket's byte-level checks: valid UTF-8, no raw NUL, well-formed \u
 * escapes (see ALERT_NUL_MARK). Returns 0 and *root (caller cJSON_Deletes)
 * or -1 with "body: <what is wrong>" in err. */
int alert_json_parse(const char *buf, size_t len, struct cJSON **root,
		     char *err, size_t errlen);

/* Checks that obj is a flat object of at most max labels under the
 * socket's rules (names 1..ALERT_MAX_LABEL_NAME bytes, given once; values
 * strings of at most ALERT_MAX_LABEL_VALUE bytes; no NUL). 0 or -1 with
 * "labels...: <what is wrong>" in err. */
int alert_labels_check(const struct cJSON *obj, size_t max, char *err,
		       size_t errlen);

/* 1 if v is acceptable as an alert's url (http or https, a host, no
 * space or control character, at most ALERT_MAX_URL bytes), else 0. */
int alert_url_ok(const char *v);

/* Frees the strings of a (meta too), not a itself, and zeroes it. */
void alert_free(struct alert *a);

/* "critical" .. "debug"; NULL for out-of-range. */
const char *severity_name(enum severity s);
/* Case-insensitive; -1 if unknown. */
int severity_parse(const char *name);

/* "an object", "an array", "a string", ...: what a JSON value is, for
 * error messages. */
const char *alert_json_kind(const struct cJSON *v);

#endif
