/*
 * tgvalidate.c - a validator of Telegram's parse_mode=HTML rules (see
 * tgvalidate.h), used by the formatter's unit tests and fuzz target to
 * check every message opsbot builds. Not linked into the daemon (the
 * Makefile's TESTLIB_SRCS).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bot/utf8.h"
#include "bot/util.h"
#include "alerts/format.h"
#include "alerts/tgvalidate.h"

#define TGH_MAX_DEPTH 32

enum tgh_kind {
	TK_STYLE, TK_SPAN, TK_A, TK_CODE, TK_PRE, TK_QUOTE, TK_EMOJI
};

static const struct {
	const char *name;
	enum tgh_kind kind;
} tgh_tags[] = {
	{ "b", TK_STYLE }, { "strong", TK_STYLE }, { "i", TK_STYLE },
	{ "em", TK_STYLE }, { "u", TK_STYLE }, { "ins", TK_STYLE },
	{ "s", TK_STYLE }, { "strike", TK_STYLE }, { "del", TK_STYLE },
	{ "tg-spoiler", TK_STYLE }, { "span", TK_SPAN }, { "a", TK_A },
	{ "code", TK_CODE }, { "pre", TK_PRE }, { "blockquote", TK_QUOTE },
	{ "tg-emoji", TK_EMOJI },
};

struct tgh_open {
	int tag;      /* index in tgh_tags */
	int had_code; /* pre: its one code child was seen */
};

struct tgh_val {
	const char *html;
	size_t n;
	char *err;
	size_t errlen;
	struct tgh_open stack[TGH_MAX_DEPTH];
	size_t depth;
};

static int tgh_fail(struct tgh_val *v, const char *fmt, ...) ATTR_PRINTF(2, 3);

static int tgh_fail(struct tgh_val *v, const char *fmt, ...)
{
	va_list ap;

	if (v->err && v->errlen) {
		va_start(ap, fmt);
		vsnprintf(v->err, v->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int tgh_is_name(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int tgh_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies a name of at most size-1 bytes, lower-cased, for messages and
 * lookups; longer names are cut (and then match nothing). */
static void tgh_lower(char *dst, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i];
	dst[i] = '\0';
}

static int tgh_lookup(const char *name)
{
	size_t k;

	for (k = 0; k < ARRAY_LEN(tgh_tags); k++)
		if (strcmp(tgh_tags[k].name, name) == 0)
			return (int)k;
	return -1;
}

/* Checks an attribute value's bytes: text rules, no '<', entities only. */
static int tgh_check_value(struct tgh_val *v, size_t i, size_t end)
{
	uint32_t cp;

	for (; i < end; i++) {
		if (v->html[i] == '<' || v->html[i] == '>')
			return tgh_fail(v, "bare %c in attribute at byte %zu",
					v->html[i], i);
		if (v->html[i] == '&' &&
		    tg_html_entity(v->html + i, end - i, &cp) == 0)
			return tgh_fail(v, "bad entity in attribute at byte %zu",
					i);
	}
	return 0;
}

/* Checks one attribute (name[0..nl), value [vs..ve) or vs == 0 for none)
 * against what tag t allows. */
static int tgh_check_attr(struct tgh_val *v, int t, const char *name,
			  size_t vs, size_t ve, size_t at)
{
	enum tgh_kind kind = tgh_tags[t].kind;
	const char *val = v->html + vs;
	size_t vl = ve - vs, k;
	int ok = 0;

	if (vs && tgh_check_value(v, vs, ve) != 0)
		return -1;
	if (kind == TK_SPAN && strcmp(name, "class") == 0)
		ok = vs && vl == 10 && memcmp(val, "tg-spoiler", 10) == 0;
	else if (kind == TK_A && strcmp(name, "href") == 0)
		ok = vs && vl > 0;
	else if (kind == TK_CODE && strcmp(name, "class") == 0)
		ok = vs && vl > 9 && memcmp(val, "language-", 9) == 0;
	else if (kind == TK_QUOTE && strcmp(name, "expandable") == 0)
		ok = vs == 0;
	else if (kind == TK_EMOJI && strcmp(name, "emoji-id") == 0) {
		ok = vs && vl > 0;
		for (k = 0; ok && k < vl; k++)
			ok = val[k] >= '0' && val[k] <= '9';
	}
	if (!ok)
		return tgh_fail(v, "unsupported attribute %s of <%s> at byte %zu",
				name, tgh_tags[t].name, at);
	return 0;
}

/* Parses the attributes of tag t from *pi up to and including '>'.
 * Returns a bitmask of required attributes seen in *seen. */
static int tgh_attrs(struct tgh_val *v, int t, size_t *pi, size_t at,
		     int *seen)
{
	const char *h = v->html;
	size_t i = *pi, ns, vs, ve;
	char name[32];

	for (;;) {
		while (i < v->n && tgh_is_space(h[i]))
			i++;
		if (i >= v->n)
			return tgh_fail(v, "unterminated tag at byte %zu", at);
		if (h[i] == '>')
			break;
		ns = i;
		while (i < v->n && tgh_is_name((unsigned char)h[i]))
			i++;
		if (i == ns)
			return tgh_fail(v, "malformed tag <%s> at byte %zu",
					tgh_tags[t].name, at);
		tgh_lower(name, sizeof(name), h + ns, i - ns);
		vs = ve = 0;
		if (i < v->n && h[i] == '=') {
			if (++i >= v->n || h[i] != '"')
				return tgh_fail(v, "attribute value must be "
						"double-quoted at byte %zu", i);
			vs = ++i;
			while (i < v->n && h[i] != '"')
				i++;
			if (i >= v->n)
				return tgh_fail(v, "unterminated tag at byte %zu",
						at);
			ve = i++;
		}
		if (tgh_check_attr(v, t, name, vs, ve, at) != 0)
			return -1;
		*seen = 1;
	}
	*pi = i + 1;
	return 0;
}

/* Nesting rules for opening tag t at the current depth. */
static int tgh_push(struct tgh_val *v, int t, size_t at)
{
	enum tgh_kind kind = tgh_tags[t].kind;
	struct tgh_open *top = v->depth ? &v->stack[v->depth - 1] : NULL;
	size_t k;

	if (top && tgh_tags[top->tag].kind == TK_CODE)
		return tgh_fail(v, "tag <%s> inside <code> at byte %zu",
				tgh_tags[t].name, at);
	if (top && tgh_tags[top->tag].kind == TK_PRE) {
		if (kind != TK_CODE || top->had_code)
			return tgh_fail(v, "tag <%s> inside <pre> at byte %zu",
					tgh_tags[t].name, at);
		top->had_code = 1;
	}
	if (kind == TK_QUOTE)
		for (k = 0; k < v->depth; k++)
			if (tgh_tags[v->stack[k].tag].kind == TK_QUOTE)
				return tgh_fail(v, "nested <blockquote> at byte "
						"%zu", at);
	if (v->depth >= TGH_MAX_DEPTH)
		return tgh_fail(v, "tags nested too deep at byte %zu", at);
	v->stack[v->depth].tag = t;
	v->stack[v->depth].had_code = 0;
	v->depth++;
	return 0;
}

/* Parses the tag starting at *pi ('<') and advances past it. */
static int tgh_tag(struct tgh_val *v, size_t *pi)
{
	const char *h = v->html;
	size_t at = *pi, i = at + 1, ns;
	char name[24];
	int closing = 0, t, seen = 0;
	enum tgh_kind kind;

	if (i < v->n && h[i] == '/')
		closing = 1, i++;
	ns = i;
	while (i < v->n && tgh_is_name((unsigned char)h[i]))
		i++;
	if (i == ns)
		return tgh_fail(v, "bare < at byte %zu", at);
	tgh_lower(name, sizeof(name), h + ns, i - ns);
	if ((t = tgh_lookup(name)) < 0)
		return tgh_fail(v, "unsupported tag <%s%s> at byte %zu",
				closing ? "/" : "", name, at);
	if (closing) {
		while (i < v->n && tgh_is_space(h[i]))
			i++;
		if (i >= v->n || h[i] != '>')
			return tgh_fail(v, "malformed closing tag </%s> at "
					"byte %zu", name, at);
		if (v->depth == 0)
			return tgh_fail(v, "unexpected closing tag </%s> at "
					"byte %zu", name, at);
		if (v->stack[v->depth - 1].tag != t)
			return tgh_fail(v, "closing tag </%s> does not match "
					"<%s> at byte %zu", name,
					tgh_tags[v->stack[v->depth - 1].tag].name,
					at);
		v->depth--;
		*pi = i + 1;
		return 0;
	}
	if (tgh_attrs(v, t, &i, at, &seen) != 0)
		return -1;
	kind = tgh_tags[t].kind;
	/* These tags mean nothing without their attribute. */
	if (!seen && (kind == TK_SPAN || kind == TK_A || kind == TK_EMOJI))
		return tgh_fail(v, "tag <%s> without its attribute at byte "
				"%zu", name, at);
	if (tgh_push(v, t, at) != 0)
		return -1;
	*pi = i;
	return 0;
}

/* Reports a '&' that is not an entity, naming it when it looks like one. */
static int tgh_bad_amp(struct tgh_val *v, size_t i)
{
	size_t k;

	for (k = i + 1; k < v->n && k < i + 12 &&
	     (tgh_is_name((unsigned char)v->html[k]) || v->html[k] == '#'); k++)
		;
	if (k > i + 1 && k < v->n && v->html[k] == ';')
		return tgh_fail(v, "unsupported entity %.*s at byte %zu",
				(int)(k - i + 1), v->html + i, i);
	return tgh_fail(v, "bare & at byte %zu", i);
}

int tg_html_validate(const char *html, size_t n, char *err, size_t errlen)
{
	struct tgh_val v;
	size_t i = 0, units = 0, len;
	uint32_t cp;

	memset(&v, 0, sizeof(v));
	v.html = html;
	v.n = n;
	v.err = err;
	v.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if ((i = utf8_scan(html, n)) < n)
		return tgh_fail(&v, "invalid UTF-8 at byte %zu", i);
	i = 0;
	while (i < n) {
		if (html[i] == '<') {
			if (tgh_tag(&v, &i) != 0)
				return -1;
		} else if (html[i] == '>') {
			return tgh_fail(&v, "bare > at byte %zu", i);
		} else if (html[i] == '&') {
			if ((len = tg_html_entity(html + i, n - i, &cp)) == 0)
				return tgh_bad_amp(&v, i);
			units += cp > 0xFFFF ? 2 : 1;
			i += len;
		} else {
			units += utf16_len(html + i, 1);
			i++;
		}
	}
	if (v.depth)
		return tgh_fail(&v, "unclosed tag <%s>",
				tgh_tags[v.stack[v.depth - 1].tag].name);
	if (units == 0)
		return tgh_fail(&v, "message text is empty");
	if (units > TG_MAX_TEXT)
		return tgh_fail(&v, "message is too long (%zu UTF-16 units)",
				units);
	return 0;
}
