/*
 * format.h - alerts as Telegram HTML messages, styled by severity.
 *
 * Everything produced here uses only tags from Telegram's list, escapes
 * every interpolated field, is valid UTF-8 and fits the 4096 UTF-16 code
 * unit limit per part (counted after entity parsing, as Telegram does).
 * Nothing logs; allocation failures return -1 / NULL.
 */
#ifndef OPSBOT_FORMAT_H
#define OPSBOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"
#include "bot/utf8.h" /* utf16_len */

#define TG_MAX_TEXT 4096 /* UTF-16 code units after entity parsing */
#define FORMAT_MAX_PARTS 16
/* A pack of more alerts than this is a storm: one line per alert, so that
 * 1,000 alerts fit in the ~17 messages a group takes per minute. */
#define FORMAT_PACK_DENSE_AT 30

/* Facts about an alert that live outside it (acks, state) and affect how
 * it is shown. Zero-initialise for "none". */
struct format_extra {
	const char *acked_by;   /* "@name" or "Jane"; NULL = not acked */
	int64_t acked_at;       /* wall ms */
	int resolved;           /* 1: the alert was resolved (edit of original) */
	int64_t resolved_at;    /* wall ms */
	int muted;              /* shown as muted in listings */
	const char *late;       /* "fired 12:03, 14 min ago": shown in the
				   footer of an alert delivered late; NULL */
};

/* The severity's marker emoji (e.g. "🔴" for critical); never NULL. */
const char *format_marker(enum severity s);

/* Full message for one alert. Splits into parts at line boundaries (hard
 * split inside an over-long line), closing open tags at each cut and
 * reopening them in the next part; no text is dropped. Returns the number
 * of parts (1..max) with each part malloc'd in parts[] (caller frees each),
 * or -1. If the alert needs more than max parts, the last part ends with
 * a note saying how much was cut. */
int format_alert(const struct alert *a, const struct format_extra *x,
		 char **parts, size_t max);

/* The same content with no markup at all (the fallback when Telegram
 * refuses our HTML), to be sent without parse_mode: & < > are left as
 * they are, invalid UTF-8 is replaced, parts fit TG_MAX_TEXT. */
int format_alert_plain(const struct alert *a, const struct format_extra *x,
		       char **parts, size_t max);

/* Packs alerts[0..n) into one message, one compact block per alert (just
 * a headline line each when n says it is a storm: over 30, so that 1,000
 * alerts fit the ~17 messages a group takes in a minute), in the given
 * order, stopping before the first that would not fit. Returns how
 * many were packed (>= 1 when n >= 1: the first is always included,
 * shortened if needed) and the message in *out (caller frees); 0 with
 * *out NULL only when out of memory. */
size_t format_pack(const struct alert *const *alerts, size_t n, char **out);

/* One line of a pack, with what happened to its alert since. */
struct pack_line {
	const struct alert *a;
	int resolved;          /* shown as resolved (✅) */
	const char *acked_by;  /* NULL: not acked */
};

struct pack_opts {
	int dense;             /* storm layout: one short line per alert */
	const char *late;      /* note under the header, e.g. "fired 12:03,
				  14 min ago"; NULL for none */
};

/* format_pack with per-line marks and options: the same blocks (a
 * resolved line shows ✅, an acked one ☑️), a "☑️ acked by ..." footer
 * when any line is acked. Room for the footer and the note is always
 * kept, so the same alerts re-rendered after an ack or a resolution
 * still fit in one message. Same return and ownership as format_pack.
 * format_pack(a, n) is this with dense = n > 30. */
size_t format_pack_lines(const struct pack_line *lines, size_t n,
			 const struct pack_opts *o, char **out);

/* Splits an already rendered Telegram-HTML message (a template's output)
 * into parts exactly as format_alert splits its own layout: at line
 * boundaries, tags closed at each cut and reopened in the next part, at
 * most max parts (the last ending with a note on what was cut). plain:
 * the same text with every tag removed and entities decoded, for sending
 * without parse_mode. Returns the number of parts (caller frees each) or
 * -1 when html is not well-formed (a tag Telegram does not know, an
 * unbalanced or unterminated tag, a bare & < or >, nesting deeper than 8)
 * or out of memory. Attributes and nesting rules are not checked here:
 * run tg_html_validate on each part. */
int format_html_parts(const char *html, size_t n, int plain, char **parts,
		      size_t max);

/* Short reply sent under the original when an alert resolves. Caller
 * frees. */
char *format_resolved_note(const struct alert *resolved);

/* --- Telegram HTML primitives (also used by commands/) --- */

/* Appends s[0..n) to out, escaping & < > (and " when attr), replacing
 * invalid UTF-8 with U+FFFD and dropping NUL. Returns 0 or -1 (full). */
struct buf;
int html_escape(struct buf *out, const char *s, size_t n, int attr);

/* Appends s[0..n) to out as plain text: invalid UTF-8 replaced with
 * U+FFFD, NUL dropped, nothing escaped. Returns 0 or -1 (full). */
int utf8_sanitize(struct buf *out, const char *s, size_t n);

/* UTF-16 code units of the visible text of a Telegram-HTML string: tags
 * do not count, &lt; &gt; &amp; &quot; and &#NNN; count as what they
 * stand for. */
size_t tg_visible_len(const char *html, size_t n);

/* Parses an entity at s (s[0] == '&'): &lt; &gt; &amp; &quot; or a
 * numeric one. Returns its length in bytes and stores the code point it
 * stands for, or returns 0 if it is not one Telegram knows. */
size_t tg_html_entity(const char *s, size_t n, uint32_t *cp);

#endif
