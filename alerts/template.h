/*
 * template.h - message templates: a small mustache-like language that
 * shapes an alert's Telegram message.
 *
 *   {{title}} {{text}} {{source}} {{severity}} {{SEVERITY}} {{icon}}
 *   {{key}} {{url}} {{time}} {{status}} {{id}} {{repeats}} {{acked_by}}
 *   {{labels.NAME}}
 *   {{#FIELD}}...{{/FIELD}}   only when FIELD is present (non-empty);
 *                             FIELD may also be "resolved" or "acked"
 *   {{^FIELD}}...{{/FIELD}}   only when FIELD is absent
 *   {{#labels}}{{name}}={{value}}{{/labels}}   once per label, in order
 *   {{! a comment }}
 *
 * Every value is escaped for Telegram HTML; the template's own text is
 * markup, copied as it is. Whether that markup is valid is checked by
 * rendering sample alerts (template_check); at send time a rendering that
 * is not valid Telegram HTML is never sent: the built-in layout is.
 * Nothing logs.
 */
#ifndef OPSBOT_TEMPLATE_H
#define OPSBOT_TEMPLATE_H

#include <stddef.h>

#include "alerts/alert.h"
#include "alerts/format.h"

#define TEMPLATE_MAX_TEXT 8192       /* bytes of template */
#define TEMPLATE_MAX_OUTPUT 262144   /* bytes of one rendering */
#define TEMPLATE_MAX_DEPTH 8         /* nested sections */

struct template;
struct buf;

/* Compiles text[0..len). name and line0 place it in messages: a problem
 * on the template's line N is reported as "name:(line0 + N - 1): what"
 * (a template file: line0 = 1), or, for a template written inline at
 * line L of a configuration file (line0 = -L), as "name:L: template line
 * N: what".
 * Returns the template (caller frees with template_free) or NULL with the
 * message in err. */
struct template *template_compile(const char *text, size_t len,
				  const char *name, int line0, char *err,
				  size_t errlen);
void template_free(struct template *t);

/* Appends the rendering of a (x may be NULL) to out. 0, or -1 when out is
 * full (out->max; TEMPLATE_MAX_OUTPUT is the usual cap) or out of
 * memory. The result is not checked here. */
int template_render(const struct template *t, const struct alert *a,
		    const struct format_extra *x, struct buf *out);

/* Renders sample alerts of every severity, firing and resolved, with and
 * without each optional field, and hostile values (markup, entities,
 * emoji, over 4096 characters), and checks that each gives valid
 * Telegram HTML in at most FORMAT_MAX_PARTS parts. 0, or -1 with
 * "name:LINE: what (sample alert: which)" in err. */
int template_check(const struct template *t, char *err, size_t errlen);

/* Compiles and checks in one step: what configuration loading calls. */
int template_check_text(const char *text, size_t len, const char *name,
			int line0, char *err, size_t errlen);

/* The message for a through t, like format_alert (same parts contract),
 * split at TG_MAX_TEXT with format_html_parts. When t is NULL, or the
 * rendering is not valid Telegram HTML or too long, it is format_alert's
 * layout instead: a template never makes a message unsendable. */
/* plain: the plain-text fallback instead (format_alert_plain's contract):
 * the rendering with its markup removed. */
int format_alert_template(const struct template *t, const struct alert *a,
			  const struct format_extra *x, int plain,
			  char **parts, size_t max);

#endif
