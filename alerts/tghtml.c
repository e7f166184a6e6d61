/*
 * tghtml.c - Telegram HTML primitives: escaping and UTF-8 sanitising,
 * UTF-16 lengths (Telegram counts message length in UTF-16 code units
 * after entity parsing). The validator of the parse_mode=HTML rules is in
 * tgvalidate.c, which the daemon does not link.
 */
#include <string.h>

#include "bot/utf8.h"
#include "bot/util.h"
#include "alerts/format.h"

enum tgh_mode { TGH_PLAIN, TGH_TEXT, TGH_ATTR };

#define TGH_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* What a byte of valid-so-far input becomes in the given mode; NULL when
 * it is copied as is. */
static const char *tgh_subst(unsigned char c, enum tgh_mode mode)
{
	if (c == '\0')
		return "";
	if (mode == TGH_PLAIN)
		return NULL;
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return mode == TGH_ATTR ? "&quot;" : NULL;
	default:
		return NULL;
	}
}

/* Copies runs of bytes that need no change in one append each. */
static int tgh_append(struct buf *out, const char *s, size_t n,
		      enum tgh_mode mode)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	const char *rep;

	while (i < n) {
		len = 1;
		if (p[i] >= 0x80) {
			len = utf8_decode(s + i, n - i, NULL);
			rep = len ? NULL : TGH_REPLACEMENT;
			if (len == 0)
				len = 1;
		} else {
			rep = tgh_subst(p[i], mode);
		}
		if (rep == NULL) {
			i += len;
			continue;
		}
		if (buf_append(out, s + run, i - run) != 0 ||
		    buf_append(out, rep, strlen(rep)) != 0)
			return -1;
		i += len;
		run = i;
	}
	return buf_append(out, s + run, i - run);
}

int html_escape(struct buf *out, const char *s, size_t n, int attr)
{
	return tgh_append(out, s, n, attr ? TGH_ATTR : TGH_TEXT);
}

int utf8_sanitize(struct buf *out, const char *s, size_t n)
{
	return tgh_append(out, s, n, TGH_PLAIN);
}

size_t tg_html_entity(const char *s, size_t n, uint32_t *cp)
{
	static const struct {
		const char *name;
		uint32_t cp;
	} named[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' },
		{ "&quot;", '"' },
	};
	size_t i, k, len;
	uint32_t v = 0;
	int hex;

	for (k = 0; k < ARRAY_LEN(named); k++) {
		len = strlen(named[k].name);
		if (n >= len && memcmp(s, named[k].name, len) == 0) {
			*cp = named[k].cp;
			return len;
		}
	}
	if (n < 4 || s[1] != '#')
		return 0;
	hex = s[2] == 'x' || s[2] == 'X';
	for (i = hex ? 3 : 2; i < n && i < 12; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		v = v * (hex ? 16 : 10) + d;
		if (v > 0x10FFFF)
			return 0;
	}
	if (i == (hex ? 3u : 2u) || i >= n || s[i] != ';')
		return 0;
	if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return i + 1;
}

/* Index just past the '>' closing the tag that starts at i, honouring
 * double-quoted attribute values; n if it never closes. */
static size_t tgh_tag_end(const char *s, size_t n, size_t i)
{
	int quoted = 0;

	for (i++; i < n; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (s[i] == '>' && !quoted)
			return i + 1;
	}
	return n;
}

size_t tg_visible_len(const char *html, size_t n)
{
	size_t i = 0, u = 0, len;
	uint32_t cp;

	while (i < n) {
		if (html[i] == '<') {
			i = tgh_tag_end(html, n, i);
			continue;
		}
		if (html[i] == '&' && (len = tg_html_entity(html + i, n - i, &cp))) {
			u += cp > 0xFFFF ? 2 : 1;
			i += len;
			continue;
		}
		u += utf16_len(html + i, 1);
		i++;
	}
	return u;
}
