/*
 * util.h - small helpers shared by every module: a capped byte buffer,
 * the two clocks, bounded string copies and token redaction.
 *
 * Nothing here logs or allocates behind the caller's back except struct buf,
 * whose growth is bounded by its own max.
 */
#ifndef OPSBOT_UTIL_H
#define OPSBOT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_STRFTIME(f) __attribute__((format(strftime, f, 0)))
#define ATTR_NORETURN __attribute__((noreturn))
#else
#define ATTR_PRINTF(f, a)
#define ATTR_STRFTIME(f)
#define ATTR_NORETURN
#endif

/* Growable byte buffer that refuses to grow past max bytes. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* 0 on success; -1 if it would exceed b->max or allocation fails. Keeps
 * data NUL-terminated (the terminator is not counted in len). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Drops the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* The two clocks of one loop turn, read once per turn by the loop and
 * passed to every module as `const struct clock *` (tests set them). */
struct clock {
	int64_t now;  /* monotonic ms: deadlines in memory */
	int64_t wall; /* wall-clock ms, same instant: what is stored */
};

/* A wall-clock instant as a monotonic deadline of this clock. */
int64_t clock_wall_to_mono(const struct clock *c, int64_t wall);
/* Reads both clocks. */
void clock_read(struct clock *c);

/* Monotonic milliseconds (CLOCK_MONOTONIC): deadlines in memory. */
int64_t clock_mono_ms(void);
/* Wall-clock milliseconds since the epoch: anything stored on disk. */
int64_t clock_wall_ms(void);

/* Formats into the caller's error buffer (err may be NULL or errlen 0)
 * and returns -1, so that "return err_set(err, len, ...);" reports and
 * fails in one step. */
int err_set(char *err, size_t errlen, const char *fmt, ...) ATTR_PRINTF(3, 4);

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);

/* Rewrites every "bot<digits>:<secret>" in s, in place, to "bot<digits>:***"
 * so that a token can never reach a log line. */
void redact_token(char *s);

/* Rewrites, in place, every occurrence of the token's secret in s to
 * "***", whatever carries it: the whole token, "bot<id>:<secret>", the
 * URL-encoded forms ("%3A" or "%3a" for ':', any character as %HH) and
 * the bare secret without its "<id>:" prefix. secret is the whole token
 * ("<id>:<secret>") or a bare secret; one shorter than 4 bytes after its
 * ':' cannot be a real secret and is ignored (so is NULL). */
void redact_secret(char *s, const char *secret);

/* The process-wide secret that redact_all() scrubs: main sets it to the
 * token once it is known (a copy is kept; NULL or "" clears it, wiping
 * the copy). */
void redact_set_secret(const char *secret);
/* redact_token() and redact_secret() with the registered secret: what
 * every string leaving the process (log lines, Telegram's descriptions
 * stored as last_error, /status) goes through. */
void redact_all(char *s);

/* Local time of wall-clock ms with a strftime format ("?" if it cannot
 * be shown). */
void fmt_clock(char *dst, size_t size, int64_t wall_ms, const char *fmt)
	ATTR_STRFTIME(4);

/* Formats a duration in ms as "3d4h", "5m12s", "40s", "850ms". */
void fmt_duration(char *dst, size_t size, int64_t ms);

/* Parses "90s", "5m", "1h30m", "2d" or bare seconds into ms; -1 if invalid
 * or not positive. */
int64_t parse_duration(const char *s);

#endif
