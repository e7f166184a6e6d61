/*
 * utf8.h - the one strict UTF-8 decoder: every module that checks, cleans
 * or measures UTF-8 (the alert parser, the Telegram HTML primitives, the
 * Bot API client) uses these, so they all agree on what is valid.
 *
 * "Valid" is RFC 3629: shortest form only (no overlongs), no UTF-16
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated or
 * stray continuation bytes. Nothing here allocates or logs.
 */
#ifndef OPSBOT_UTF8_H
#define OPSBOT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s[0..n) (n >= 1). Returns its length (1..4) and
 * stores the code point in *cp (when cp is not NULL), or returns 0 when
 * the bytes at s do not start a valid sequence. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Offset of the first invalid sequence in s[0..n), or n if all is valid. */
size_t utf8_scan(const char *s, size_t n);

/* 1 if the n bytes at s are valid UTF-8, else 0. */
int utf8_valid(const char *s, size_t n);

/* UTF-16 code units (what Telegram counts) of n bytes of valid UTF-8:
 * one per code point, two for those above U+FFFF. */
size_t utf16_len(const char *s, size_t n);

#endif
