/*
 * fuzz.h - helpers shared by the libFuzzer targets in tests/fuzz/: a check
 * that aborts with a message (so libFuzzer records the input as a crash),
 * an exact-size copy of the input (so ASan catches any read past it) and
 * an independent strict UTF-8 checker (the targets must not trust the
 * module's own utf8_valid when judging that module's output).
 */
#ifndef OPSBOT_FUZZ_H
#define OPSBOT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
			__LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} \
} while (0)

/* The libFuzzer entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exact-size heap copy of data (plus a NUL when nul is set). */
static inline char *fuzz_dup(const uint8_t *data, size_t size, int nul)
{
	char *p = malloc(size + (nul ? 1 : 0) + (size == 0));

	if (p == NULL)
		abort();
	if (size > 0)
		memcpy(p, data, size);
	if (nul)
		p[size] = '\0';
	return p;
}

/* Decodes one strict UTF-8 character at s[0..n): its length (1..4) and
 * code point, or 0 if invalid (stray, truncated, overlong, surrogate,
 * above U+10FFFF). Written from RFC 3629's table, not from the modules. */
static inline size_t fuzz_utf8_char(const unsigned char *s, size_t n,
				    uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* 1 if s[0..n) is strict UTF-8. */
static inline int fuzz_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = fuzz_utf8_char(p + i, n - i, &cp)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* UTF-16 code units of strict UTF-8 s[0..n) (call fuzz_utf8_ok first). */
static inline size_t fuzz_utf16_units(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, u = 0;
	uint32_t cp;

	while (i < n && (k = fuzz_utf8_char(p + i, n - i, &cp)) > 0) {
		u += cp >= 0x10000 ? 2 : 1;
		i += k;
	}
	return u;
}

#endif
