/*
 * utf8.c - strict UTF-8 decoding and validation (see utf8.h).
 */
#include <string.h>

#include "bot/utf8.h"

size_t utf8_decode(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	uint32_t v;
	size_t len, i;

	if (c < 0x80) {
		if (cp)
			*cp = c;
		return 1;
	}
	/* The second byte's range rules out overlongs, surrogates and
	 * values above U+10FFFF in one comparison (RFC 3629, table in
	 * section 4). */
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (c == 0xED)
			hi = 0x9F;	/* UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;	/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;	/* above U+10FFFF */
	} else {
		return 0;	/* stray continuation, C0/C1, F5..FF */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (cp)
		*cp = v;
	return len;
}

size_t utf8_scan(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;

	while (i < n) {
		/* Alerts are mostly ASCII: skip it eight bytes at a time. */
		while (n - i >= 8) {
			uint64_t w;

			memcpy(&w, s + i, sizeof(w));
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if ((len = utf8_decode(str + i, n - i, NULL)) == 0)
			return i;
		i += len;
	}
	return n;
}

int utf8_valid(const char *s, size_t n)
{
	return utf8_scan(s, n) == n;
}

size_t utf16_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, u = 0;

	/* Every lead byte starts a code point; 4-byte ones need a
	 * surrogate pair. */
	for (i = 0; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			u++;
		if (p[i] >= 0xF0)
			u++;
	}
	return u;
}
