/*
 * fuzz_format.c - libFuzzer target for the Telegram formatter
 * (alerts/format.c, alerts/tghtml.c, judged by alerts/tgvalidate.c): builds alerts from arbitrary bytes,
 * runs format_alert, format_alert_plain, format_pack and
 * format_resolved_note, and judges every HTML part twice: with the
 * module's tg_html_validate and with a small validator written here from
 * Telegram's documented HTML rules alone, so that a bug in tg_html_validate cannot hide a bug
 * in format.c. Any violation aborts.
 *
 * Input layout: byte 0 = severity (bits 0-2), status resolved (bit 3),
 * extra.resolved (4), acked (5), muted (6), repeats (7); byte 1 = max
 * parts (low nibble + 1) and pack size (high nibble); byte 2 = id and
 * time variants; the rest = source, title, text, key, url, labels,
 * acked_by, separated by 0x00 bytes (an empty field is absent). labels
 * is used as JSON if it starts with '{', else read as "k=v" lines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/tgvalidate.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "tests/fuzz/fuzz.h"

/* ---- an independent validator of Telegram's HTML rules ---- */

#define V_MAX_DEPTH 16

struct vtag {
	char name[16];
};

struct vstate {
	struct vtag stack[V_MAX_DEPTH];
	size_t depth;
};

static const char *const v_tags[] = {
	"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
	"tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji"
};

static int v_in(const struct vstate *st, const char *name)
{
	size_t k;

	for (k = 0; k < st->depth; k++)
		if (strcmp(st->stack[k].name, name) == 0)
			return 1;
	return 0;
}

/* An entity at s[0..n) (s[0] == '&'): its length, with *cp set, or 0. */
static size_t v_entity(const char *s, size_t n, uint32_t *cp)
{
	static const struct { const char *e; uint32_t cp; } named[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' },
		{ "&quot;", '"' }
	};
	size_t k, i, digits = 0;
	uint64_t v = 0;
	int hex;

	for (k = 0; k < ARRAY_LEN(named); k++) {
		size_t l = strlen(named[k].e);

		if (n >= l && memcmp(s, named[k].e, l) == 0) {
			*cp = named[k].cp;
			return l;
		}
	}
	if (n < 4 || s[1] != '#')
		return 0;
	hex = s[2] == 'x' || s[2] == 'X';
	for (i = hex ? 3 : 2; i < n && s[i] != ';' && digits < 10; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v * (hex ? 16 : 10) + (uint64_t)(c - '0');
		else if (hex && c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else if (hex && c >= 'A' && c <= 'F')
			v = v * 16 + (uint64_t)(c - 'A' + 10);
		else
			return 0;
		digits++;
	}
	if (digits == 0 || i >= n || s[i] != ';' || v == 0 || v > 0x10ffff ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = (uint32_t)v;
	return i + 1;
}

/* Attribute value s[0..n): no raw < > " &, entities well formed. */
static const char *v_attr_value(const char *s, size_t n)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if (s[i] == '<' || s[i] == '>' || s[i] == '"')
			return "raw < > or \" in an attribute";
		if (s[i] == '&') {
			if ((k = v_entity(s + i, n - i, &cp)) == 0)
				return "bad entity in an attribute";
			i += k;
		} else {
			i++;
		}
	}
	return NULL;
}

/* The open tag t[0..n) (between < and >). */
static const char *v_open(struct vstate *st, const char *t, size_t n)
{
	size_t i = 0, k, an, vs, ve;
	char name[16], attr[16];
	const char *why, *top = st->depth ? st->stack[st->depth - 1].name : "";
	int known = 0, has_href = 0, has_class = 0, has_id = 0;

	while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || t[i] == '-'))
		i++;
	if (i == 0 || i >= sizeof(name))
		return "bad tag name";
	memcpy(name, t, i);
	name[i] = '\0';
	for (k = 0; k < ARRAY_LEN(v_tags); k++)
		known |= strcmp(name, v_tags[k]) == 0;
	if (!known)
		return "tag not in Telegram's list";
	if (strcmp(top, "pre") == 0 && strcmp(name, "code") != 0)
		return "tag inside pre";
	if (strcmp(top, "code") == 0)
		return "tag inside code";
	if (strcmp(name, "blockquote") == 0 && v_in(st, "blockquote"))
		return "nested blockquote";
	if (strcmp(name, "a") == 0 && v_in(st, "a"))
		return "nested link";
	/* attributes: ( ' ' name [ '="' value '"' ] )* */
	while (i < n) {
		if (t[i] != ' ')
			return "junk in tag";
		i++;
		for (an = 0; i < n && ((t[i] >= 'a' && t[i] <= 'z') ||
				       t[i] == '-'); i++, an++)
			if (an + 1 < sizeof(attr))
				attr[an] = t[i];
		if (an == 0 || an + 1 >= sizeof(attr))
			return "bad attribute name";
		attr[an] = '\0';
		vs = ve = 0;
		if (i < n && t[i] == '=') {
			if (i + 1 >= n || t[i + 1] != '"')
				return "unquoted attribute";
			vs = i + 2;
			for (ve = vs; ve < n && t[ve] != '"'; ve++)
				;
			if (ve >= n)
				return "unterminated attribute";
			if ((why = v_attr_value(t + vs, ve - vs)) != NULL)
				return why;
			i = ve + 1;
		}
		if (strcmp(name, "a") == 0 && strcmp(attr, "href") == 0 &&
		    ve > vs) {
			has_href = 1;
		} else if (strcmp(name, "span") == 0 &&
			   strcmp(attr, "class") == 0 && ve - vs == 10 &&
			   memcmp(t + vs, "tg-spoiler", 10) == 0) {
			has_class = 1;
		} else if (strcmp(name, "code") == 0 &&
			   strcmp(attr, "class") == 0 &&
			   strcmp(top, "pre") == 0 && ve - vs > 9 &&
			   memcmp(t + vs, "language-", 9) == 0) {
			has_class = 1;
		} else if (strcmp(name, "blockquote") == 0 &&
			   strcmp(attr, "expandable") == 0 && vs == 0) {
			;
		} else if (strcmp(name, "tg-emoji") == 0 &&
			   strcmp(attr, "emoji-id") == 0 && ve > vs) {
			has_id = 1;
		} else {
			return "attribute not allowed";
		}
	}
	if (strcmp(name, "a") == 0 && !has_href)
		return "a without href";
	if (strcmp(name, "span") == 0 && !has_class)
		return "span without class=\"tg-spoiler\"";
	if (strcmp(name, "tg-emoji") == 0 && !has_id)
		return "tg-emoji without emoji-id";
	if (st->depth >= V_MAX_DEPTH)
		return "too deep";
	memcpy(st->stack[st->depth++].name, name, strlen(name) + 1);
	return NULL;
}

/* NULL if html[0..n) is a message Telegram accepts, else why not. */
static const char *v_check(const char *html, size_t n, size_t *units_out)
{
	struct vstate st;
	const unsigned char *p = (const unsigned char *)html;
	size_t i = 0, j, k, units = 0, ink = 0;
	uint32_t cp;
	const char *why;

	memset(&st, 0, sizeof(st));
	if (memchr(html, '\0', n) != NULL)
		return "NUL byte";
	if (!fuzz_utf8_ok(html, n))
		return "invalid UTF-8";
	while (i < n) {
		if (html[i] == '<') {
			for (j = i + 1; j < n && html[j] != '>'; j++)
				if (html[j] == '<')
					return "< inside a tag";
			if (j >= n)
				return "unterminated tag";
			if (html[i + 1] == '/') {
				size_t l = j - i - 2;

				if (st.depth == 0)
					return "close without open";
				if (strlen(st.stack[st.depth - 1].name) != l ||
				    memcmp(st.stack[st.depth - 1].name,
					   html + i + 2, l) != 0)
					return "improper nesting";
				st.depth--;
			} else if ((why = v_open(&st, html + i + 1,
						 j - i - 1)) != NULL) {
				return why;
			}
			i = j + 1;
			continue;
		}
		if (html[i] == '>')
			return "raw >";
		if (html[i] == '&') {
			if ((k = v_entity(html + i, n - i, &cp)) == 0)
				return "bad entity";
		} else {
			k = fuzz_utf8_char(p + i, n - i, &cp);
		}
		units += cp >= 0x10000 ? 2 : 1;
		if (cp != ' ' && cp != '\n' && cp != '\t' && cp != '\r')
			ink = 1;
		i += k;
	}
	if (st.depth != 0)
		return "unclosed tag";
	if (units_out)
		*units_out = units;
	if (!ink)
		return "empty message";
	if (units > TG_MAX_TEXT)
		return "longer than 4096 UTF-16 units";
	return NULL;
}

/* Both validators must accept an HTML message. */
static void check_html(const char *what, const char *html)
{
	char err[256];
	const char *why;
	size_t n, units = 0;

	FUZZ_CHECK(html != NULL, "%s: NULL", what);
	n = strlen(html);
	why = v_check(html, n, &units);
	FUZZ_CHECK(why == NULL, "%s: %s (%zu units): %s", what, why, units,
		   html);
	FUZZ_CHECK(tg_html_validate(html, n, err, sizeof(err)) == 0,
		   "%s: tg_html_validate: %s: %s", what, err, html);
	FUZZ_CHECK(tg_visible_len(html, n) == units,
		   "%s: tg_visible_len %zu, counted %zu", what,
		   tg_visible_len(html, n), units);
}

/* A plain-text part: no parse mode, so only UTF-8 and length matter. */
static void check_plain(const char *plain)
{
	size_t n = strlen(plain), units, i;
	int ink = 0;

	FUZZ_CHECK(fuzz_utf8_ok(plain, n), "plain: invalid UTF-8: %s", plain);
	units = fuzz_utf16_units(plain, n);
	for (i = 0; i < n; i++)
		ink |= plain[i] != ' ' && plain[i] != '\n' &&
		       plain[i] != '\t' && plain[i] != '\r';
	FUZZ_CHECK(ink, "plain: empty part");
	FUZZ_CHECK(units <= TG_MAX_TEXT, "plain: %zu units", units);
}

/* ---- alerts from bytes ---- */

enum { F_SRC, F_TITLE, F_TEXT, F_KEY, F_URL, F_LABELS, F_ACKED, NF };

/* "k=v" lines as a compact JSON object, or s itself if it is JSON. */
static char *labels_from(const char *s)
{
	cJSON *o;
	char *copy, *line, *save = NULL, *eq, *out;

	if (s[0] == '{')
		return strdup(s);
	if ((o = cJSON_CreateObject()) == NULL || (copy = strdup(s)) == NULL)
		abort();
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		cJSON_AddStringToObject(o, line, eq + 1);
	}
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(copy);
	return out;
}

/* ---- nothing dropped ---- */

static int v_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends the visible text of part (tags removed, entities decoded,
 * the "(i/n) " marker of later parts skipped, whitespace dropped) to
 * out, which has room for it. Returns the new end. */
static char *v_visible(char *out, const char *part, int html, int later)
{
	const char *s = part, *q;
	uint32_t cp;
	size_t k;

	if (later && *s == '(' && (q = strstr(s, ") ")) != NULL)
		s = q + 2;
	while (*s) {
		if (html && *s == '<') {
			s = strchr(s, '>') + 1; /* validated: it is there */
		} else if (html && *s == '&' &&
			   (k = v_entity(s, strlen(s), &cp)) > 0 && cp < 0x80) {
			if (!v_blank((char)cp))
				*out++ = (char)cp;
			s += k;
		} else {
			if (!v_blank(*s))
				*out++ = *s;
			s++;
		}
	}
	*out = '\0';
	return out;
}

/* Every character of field (whitespace aside) is in the parts, in order,
 * unless the message was cut or the field's bytes were not valid UTF-8
 * (then U+FFFD stands in for them, and how many is the module's choice). */
static void check_kept(const char *what, const char *field, char **parts,
		       int n, int html)
{
	char *all, *want, *e;
	size_t total = 0, k;
	int i;

	if (field == NULL || !fuzz_utf8_ok(field, strlen(field)) ||
	    strstr(parts[n - 1], "more characters not shown") != NULL)
		return;
	for (i = 0; i < n; i++)
		total += strlen(parts[i]);
	all = malloc(total + 1);
	want = malloc(strlen(field) + 1);
	if (all == NULL || want == NULL)
		abort();
	for (i = 0, e = all; i < n; i++)
		e = v_visible(e, parts[i], html, i > 0);
	for (k = 0, e = want; field[k]; k++)
		if (!v_blank(field[k]))
			*e++ = field[k];
	*e = '\0';
	FUZZ_CHECK(strstr(all, want) != NULL, "%s %s not shown whole: %s",
		   html ? "html" : "plain", what, field);
	free(all);
	free(want);
}

static void free_parts(char **parts, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		free(parts[k]);
		parts[k] = NULL;
	}
}

static void run_format(const struct alert *a, const struct format_extra *x,
		       size_t max, int plain)
{
	char *parts[FORMAT_MAX_PARTS + 1];
	char what[32], mark[32];
	int n, k;

	memset(parts, 0, sizeof(parts));
	n = plain ? format_alert_plain(a, x, parts, max) :
		    format_alert(a, x, parts, max);
	FUZZ_CHECK(n >= 1 && (size_t)n <= max, "%s: %d parts (max %zu)",
		   plain ? "plain" : "html", n, max);
	for (k = n; k <= FORMAT_MAX_PARTS; k++)
		FUZZ_CHECK(parts[k] == NULL, "wrote past the parts it returned");
	for (k = 0; k < n; k++) {
		snprintf(what, sizeof(what), "%s part %d/%d",
			 plain ? "plain" : "html", k + 1, n);
		if (plain)
			check_plain(parts[k]);
		else
			check_html(what, parts[k]);
		if (k > 0) {
			snprintf(mark, sizeof(mark), "(%d/%d) ", k + 1, n);
			FUZZ_CHECK(strncmp(parts[k], mark, strlen(mark)) == 0,
				   "%s does not start with %s", what, mark);
		}
	}
	check_kept("title", a->title, parts, n, !plain);
	check_kept("text", a->text, parts, n, !plain);
	check_kept("source", a->source, parts, n, !plain);
	check_kept("key", a->key, parts, n, !plain);
	if (x != NULL)
		check_kept("acked_by", x->acked_by, parts, n, !plain);
	free_parts(parts, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t ids[] = { 1, 42, 0, -1, INT64_MAX, INT64_MIN,
				       9999999999LL, 7 };
	static const int64_t times[] = { 1700000000000LL, 0, -1,
					 INT64_MAX, INT64_MIN,
					 253402300799000LL, 86399999, 1 };
	char *copy, *f[NF], *p, *end, *note, *pack;
	struct alert a, b;
	const struct alert *list[64];
	struct format_extra x;
	size_t max, npack, k, got;
	uint8_t b0, b1, b2;
	int i;

	if (size < 3)
		return 0;
	b0 = data[0];
	b1 = data[1];
	b2 = data[2];
	copy = fuzz_dup(data + 3, size - 3, 1);
	end = copy + (size - 3);
	for (i = 0, p = copy; i < NF; i++) {
		f[i] = p < end && *p != '\0' ? p : NULL;
		p = p < end ? p + strlen(p) + 1 : end;
	}

	memset(&a, 0, sizeof(a));
	a.id = ids[b2 & 7];
	a.received_at = times[(b2 >> 3) & 7];
	a.severity = (enum severity)((b0 & 7) % SEV_COUNT);
	a.status = (b0 & 8) ? ALERT_RESOLVED : ALERT_FIRING;
	a.source = f[F_SRC];
	a.title = f[F_TITLE];
	a.text = f[F_TEXT];
	a.key = f[F_KEY];
	a.url = f[F_URL];
	a.labels = f[F_LABELS] ? labels_from(f[F_LABELS]) : NULL;
	a.peer_uid = a.peer_pid = -1;
	a.repeats = (b0 & 0x80) ? 1 + (b2 >> 6) * 1000 : 0;
	if (b2 & 0x40)
		a.repeats = a.repeats ? INT32_MAX : 0;

	memset(&x, 0, sizeof(x));
	x.resolved = (b0 >> 4) & 1;
	x.resolved_at = a.received_at;
	x.muted = (b0 >> 6) & 1;
	if (b0 & 0x20) {
		x.acked_by = f[F_ACKED] ? f[F_ACKED] : "@ops";
		x.acked_at = times[(b2 >> 5) & 7];
	}

	max = 1 + (b1 & 15);
	run_format(&a, &x, max, 0);
	run_format(&a, &x, max, 1);
	run_format(&a, NULL, FORMAT_MAX_PARTS, 0);

	note = format_resolved_note(&a);
	FUZZ_CHECK(note != NULL, "format_resolved_note failed");
	check_html("resolved note", note);
	free(note);

	/* A storm: the alert, alternating with a sibling from another
	 * source without a title, so both block shapes and the "same source
	 * as above" rule are used. */
	b = a;
	b.id = a.id ^ 1;
	b.title = NULL;
	b.source = (b2 & 1) ? NULL : "other";
	b.severity = (enum severity)((a.severity + 1) % SEV_COUNT);
	npack = 1 + (size_t)(b1 >> 4) * 4;
	for (k = 0; k < npack; k++)
		list[k] = (k % 3 == 2) ? &b : &a;
	got = format_pack(list, npack, &pack);
	FUZZ_CHECK(got >= 1 && got <= npack, "format_pack packed %zu of %zu",
		   got, npack);
	check_html("pack", pack);
	free(pack);

	free(a.labels);
	free(copy);
	return 0;
}
