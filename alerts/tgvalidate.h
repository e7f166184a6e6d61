/*
 * tgvalidate.h - a strict validator of Telegram's parse_mode=HTML rules,
 * for tests and fuzz targets (not linked into the daemon: see the
 * Makefile's TESTLIB_SRCS).
 */
#ifndef OPSBOT_TGVALIDATE_H
#define OPSBOT_TGVALIDATE_H

#include <stddef.h>

/* Checks html against Telegram's rules: allowed tags and attributes only,
 * proper nesting, no tags inside pre/code, no nested blockquote, only
 * &lt; &gt; &amp; &quot; and numeric entities, valid UTF-8, 1..4096
 * visible UTF-16 units. 0 if valid, else -1 with the reason in err. */
int tg_html_validate(const char *html, size_t n, char *err, size_t errlen);

#endif
