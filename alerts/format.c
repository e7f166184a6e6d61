/*
 * format.c - turns alerts into Telegram messages: the per-alert layout by
 * severity, splitting into parts within Telegram's length limit, storm
 * packs, the resolved note and the plain-text fallback.
 *
 * A message is first built as a "document": a list of segments (text with
 * a known UTF-16 length, tag opens and closes, line breaks). Text is kept
 * sanitised but unescaped in the document, so it can be cut at any
 * character boundary; it is escaped only when written into a part, which
 * makes cutting inside an entity impossible by construction. Tags are
 * written lazily (just before the first text inside them) and closed at
 * every cut, so a part never holds an unbalanced or empty element.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "bot/url.h"
#include "bot/util.h"
#include "alerts/format.h"

#define FMT_PART_MAX (1u << 20)  /* bytes of markup in one part */
#define FMT_DOC_MAX (16u << 20)  /* bytes of text and markup in a document */
#define FMT_MAX_SEGS (1u << 20)
#define FMT_MAX_DEPTH 8          /* the layout nests at most 2 deep */
#define FMT_HEAD_CHARS 80        /* headline taken from the text */
#define FMT_PACK_TEXT_CHARS 100
#define FMT_PACK_SOURCE_CHARS 40
#define FMT_NOTE_ROOM 64         /* "\n… N more characters not shown" */
#define FMT_PACK_HEAD_ROOM 40    /* "📦 <b>N alerts</b>\n" */
/* The acked-by footer is kept free in every pack, and the late note's
 * room in a late one, so that a re-render after an ack or a resolution
 * (whose note says "delivered N min late") still fits. */
#define FMT_PACK_NOTE_CHARS 48
#define FMT_PACK_NOTE_ROOM (FMT_PACK_NOTE_CHARS + 8)
#define FMT_PACK_ACKERS 3        /* names in the acked-by footer */
#define FMT_PACK_ACKER_CHARS 24
#define FMT_PACK_FOOT_ROOM (16 + FMT_PACK_ACKERS * (FMT_PACK_ACKER_CHARS + 2) + 20)
#define FMT_PACK_DENSE_AT FORMAT_PACK_DENSE_AT
#define FMT_DENSE_HEAD_CHARS 40
#define FMT_DENSE_SOURCE_CHARS 20
#define FMT_DENSE_FOOTER "\n<i>/alert ID shows one in full</i>"
#define FMT_DENSE_FOOTER_UNITS 32

enum seg_kind { SEG_TEXT, SEG_OPEN, SEG_CLOSE, SEG_BREAK };

struct seg {
	enum seg_kind kind;
	size_t off, len;   /* SEG_TEXT: text; SEG_OPEN: markup (in arena) */
	const char *close; /* SEG_OPEN: the matching close markup */
	size_t units;      /* SEG_TEXT: UTF-16 code units */
};

struct doc {
	struct buf arena;
	struct seg *segs;
	size_t nseg, cap;
	size_t tail; /* first segment of the facts and footer lines */
	int plain;  /* no markup: for format_alert_plain */
	int failed; /* sticky: something did not fit or allocate */
};

const char *format_marker(enum severity s)
{
	static const char *const markers[SEV_COUNT] = {
		"🔴", "🟠", "🟡", "🔵", "⚪"
	};

	return (unsigned)s < SEV_COUNT ? markers[s] : "❔";
}

static int fmt_has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int fmt_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Byte length of the character led by c in sanitised (valid) UTF-8. */
static size_t fmt_cplen(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Sanitises s[0..n) into out on one line: line breaks and tabs become
 * spaces, so a field can never break the layout. */
static int fmt_inline(struct buf *out, const char *s, size_t n)
{
	size_t i, start = out->len;

	if (utf8_sanitize(out, s, n) != 0)
		return -1;
	for (i = start; i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\r' ||
		    out->data[i] == '\t')
			out->data[i] = ' ';
	return 0;
}

/* Cuts the sanitised text out[start..len) after maxcp characters, adding
 * "…". Returns 1 if it had to cut. */
static int fmt_cut(struct buf *out, size_t start, size_t maxcp)
{
	size_t i = start, cps = 0;

	while (i < out->len && cps < maxcp) {
		i += fmt_cplen((unsigned char)out->data[i]);
		cps++;
	}
	if (i >= out->len)
		return 0;
	while (i > start && out->data[i - 1] == ' ')
		i--;
	out->len = i;
	out->data[i] = '\0';
	return buf_append(out, "…", strlen("…")) == 0 ? 1 : -1;
}

/* Appends the first non-blank line of s, sanitised and cut to maxcp
 * characters. Returns 1 if that shows all of s, 0 if not, -1 if full. */
static int fmt_headline(struct buf *out, const char *s, size_t maxcp)
{
	const char *p = s, *e, *rest;
	size_t start = out->len;
	int cut;

	while (fmt_blank(*p))
		p++;
	if ((e = strchr(p, '\n')) == NULL)
		e = p + strlen(p);
	for (rest = e; fmt_blank(*rest); rest++)
		;
	while (e > p && fmt_blank(e[-1]))
		e--;
	if (fmt_inline(out, p, (size_t)(e - p)) != 0 ||
	    (cut = fmt_cut(out, start, maxcp)) < 0)
		return -1;
	return !cut && *rest == '\0';
}

/* --- document building --- */

static void doc_init(struct doc *d, int plain)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->arena, FMT_DOC_MAX);
	d->plain = plain;
}

static void doc_free(struct doc *d)
{
	buf_free(&d->arena);
	free(d->segs);
}

static void doc_push(struct doc *d, enum seg_kind kind, size_t off,
		     size_t len, const char *close)
{
	struct seg *s;
	size_t cap;

	if (d->failed)
		return;
	if (d->nseg == d->cap) {
		cap = d->cap ? d->cap * 2 : 64;
		s = cap <= FMT_MAX_SEGS ?
		    realloc(d->segs, cap * sizeof(*s)) : NULL;
		if (s == NULL) {
			d->failed = 1;
			return;
		}
		d->segs = s;
		d->cap = cap;
	}
	s = &d->segs[d->nseg++];
	s->kind = kind;
	s->off = off;
	s->len = len;
	s->close = close;
	s->units = kind == SEG_TEXT ? utf16_len(d->arena.data + off, len) : 0;
}

/* Adds text, sanitised; in a multi-line field every '\n' becomes a line
 * break (the packer's preferred cut), an inline one stays on its line. */
static void doc_textn(struct doc *d, const char *s, size_t n, int multiline)
{
	size_t start = d->arena.len, i, line;
	int rc;

	if (d->failed || n == 0)
		return;
	rc = multiline ? utf8_sanitize(&d->arena, s, n) :
			 fmt_inline(&d->arena, s, n);
	if (rc != 0) {
		d->failed = 1;
		return;
	}
	for (i = line = start; i < d->arena.len; i++) {
		if (d->arena.data[i] != '\n')
			continue;
		if (i > line)
			doc_push(d, SEG_TEXT, line, i - line, NULL);
		doc_push(d, SEG_BREAK, i, 0, NULL);
		line = i + 1;
	}
	if (i > line)
		doc_push(d, SEG_TEXT, line, i - line, NULL);
}

static void doc_text(struct doc *d, const char *s)
{
	doc_textn(d, s, strlen(s), 0);
}

static void doc_break(struct doc *d)
{
	doc_push(d, SEG_BREAK, 0, 0, NULL);
}

/* Opens an element whose open tag the caller just wrote to the arena,
 * from off to its end (an <a href> is built that way). */
static void doc_open_at(struct doc *d, size_t off, const char *close)
{
	if (!d->plain)
		doc_push(d, SEG_OPEN, off, d->arena.len - off, close);
}

static void doc_open(struct doc *d, const char *markup, const char *close)
{
	size_t off = d->arena.len;

	if (d->plain || d->failed)
		return;
	if (buf_append(&d->arena, markup, strlen(markup)) != 0) {
		d->failed = 1;
		return;
	}
	doc_open_at(d, off, close);
}

static void doc_close(struct doc *d)
{
	if (!d->plain)
		doc_push(d, SEG_CLOSE, 0, 0, NULL);
}

/* s inside <tag>...</tag>, on one line. */
static void doc_wrap(struct doc *d, const char *open, const char *close,
		     const char *s, size_t n)
{
	doc_open(d, open, close);
	doc_textn(d, s, n, 0);
	doc_close(d);
}

static void doc_bold(struct doc *d, const char *s)
{
	doc_wrap(d, "<b>", "</b>", s, strlen(s));
}

static void doc_code(struct doc *d, const char *s)
{
	doc_wrap(d, "<code>", "</code>", s, strlen(s));
}

/* --- the alert layout --- */

static int fmt_is_resolved(const struct alert *a, const struct format_extra *x)
{
	return a->status == ALERT_RESOLVED || (x != NULL && x->resolved);
}

/* Line 1. Returns 1 if it shows all of the text (so the body is not
 * repeated), 0 if not. */
static int fmt_head(struct doc *d, const struct alert *a, int resolved)
{
	const char *sev = severity_name(a->severity);
	char up[16];
	struct buf tmp;
	size_t i;
	int whole = 0;

	if (sev == NULL)
		sev = "unknown";
	if (resolved) {
		doc_text(d, "✅ ");
		doc_bold(d, "RESOLVED");
		doc_text(d, " (");
		doc_text(d, sev);
		doc_text(d, ")");
	} else {
		for (i = 0; sev[i] && i + 1 < sizeof(up); i++)
			up[i] = (char)(sev[i] - ('a' <= sev[i] && sev[i] <= 'z' ?
						 'a' - 'A' : 0));
		up[i] = '\0';
		doc_text(d, format_marker(a->severity));
		doc_text(d, " ");
		doc_bold(d, up);
	}
	if (fmt_has(a->title)) {
		doc_text(d, " · ");
		doc_bold(d, a->title);
		return fmt_has(a->text) && strcmp(a->title, a->text) == 0;
	}
	if (!fmt_has(a->text))
		return 0;
	buf_init(&tmp, FMT_DOC_MAX);
	if ((whole = fmt_headline(&tmp, a->text, FMT_HEAD_CHARS)) < 0)
		d->failed = 1;
	else if (tmp.len > 0) {
		doc_text(d, " · ");
		doc_wrap(d, "<b>", "</b>", tmp.data, tmp.len);
	}
	buf_free(&tmp);
	return whole > 0;
}

/* The body: the whole text, all its lines, trailing blank lines dropped. */
static void fmt_body(struct doc *d, const char *text)
{
	size_t n = strlen(text);

	while (n > 0 && fmt_blank(text[n - 1]))
		n--;
	if (n == 0)
		return;
	doc_break(d);
	doc_textn(d, text, n, 1);
}

/* Starts the facts line, or separates the next fact on it. */
static void fmt_sep(struct doc *d, int *first)
{
	if (*first)
		doc_break(d);
	else
		doc_text(d, " · ");
	*first = 0;
}

static void fmt_labels(struct doc *d, const char *json, int *first)
{
	cJSON *o = cJSON_Parse(json), *it;
	int n = 0;

	if (o == NULL || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return;
	}
	cJSON_ArrayForEach(it, o) {
		if (!cJSON_IsString(it) || it->string == NULL ||
		    n >= ALERT_MAX_LABELS)
			continue;
		if (n++ == 0)
			fmt_sep(d, first);
		else
			doc_text(d, " ");
		doc_text(d, it->string);
		doc_text(d, "=");
		doc_code(d, it->valuestring);
	}
	cJSON_Delete(o);
}

/* Only URLs the alert parser would accept become links: anything else
 * (javascript:, spaces, control characters) is shown as code, never as an
 * href. */
static int fmt_linkable(const char *u)
{
	return url_check(u, NULL, 0) == URL_OK;
}

static void fmt_url(struct doc *d, const char *url)
{
	size_t off = d->arena.len;

	if (d->plain) {
		doc_text(d, url);
		return;
	}
	if (!fmt_linkable(url)) {
		doc_code(d, url);
		return;
	}
	if (d->failed)
		return;
	if (buf_append(&d->arena, "<a href=\"", 9) != 0 ||
	    html_escape(&d->arena, url, strlen(url), 1) != 0 ||
	    buf_append(&d->arena, "\">", 2) != 0) {
		d->failed = 1;
		return;
	}
	doc_open_at(d, off, "</a>");
	doc_text(d, "link");
	doc_close(d);
}

static void fmt_facts(struct doc *d, const struct alert *a)
{
	int first = 1;

	if (fmt_has(a->source)) {
		fmt_sep(d, &first);
		doc_code(d, a->source);
	}
	if (fmt_has(a->key)) {
		fmt_sep(d, &first);
		doc_text(d, "key ");
		doc_code(d, a->key);
	}
	if (fmt_has(a->labels))
		fmt_labels(d, a->labels, &first);
	if (fmt_has(a->url)) {
		fmt_sep(d, &first);
		fmt_url(d, a->url);
	}
}

static void fmt_foot(struct doc *d, const struct alert *a,
		     const struct format_extra *x)
{
	char tmp[96], when[64];

	fmt_clock(when, sizeof(when), a->received_at, "%Y-%m-%d %H:%M:%S %Z");
	snprintf(tmp, sizeof(tmp), "#%lld · %s", (long long)a->id, when);
	doc_break(d);
	doc_text(d, tmp);
	if (a->repeats > 0) {
		snprintf(tmp, sizeof(tmp), " · repeated %d×", a->repeats);
		doc_text(d, tmp);
	}
	if (x != NULL && x->late != NULL) {
		doc_text(d, " · ⏰ ");
		doc_text(d, x->late);
	}
	if (x != NULL && x->acked_by != NULL) {
		doc_text(d, " · ☑️ acked by ");
		doc_text(d, x->acked_by);
		if (x->acked_at > 0) {
			fmt_clock(when, sizeof(when), x->acked_at, "%H:%M");
			doc_text(d, " ");
			doc_text(d, when);
		}
	}
	if (x != NULL && x->muted)
		doc_text(d, " · 🔕 muted");
}

static void fmt_build(struct doc *d, const struct alert *a,
		      const struct format_extra *x)
{
	int whole = fmt_head(d, a, fmt_is_resolved(a, x));

	if (fmt_has(a->text) && !whole)
		fmt_body(d, a->text);
	d->tail = d->nseg; /* fmt_facts or fmt_foot starts with a break */
	fmt_facts(d, a);
	fmt_foot(d, a, x);
}

/* --- packing a document into parts --- */

struct packer {
	const struct doc *d;
	char **parts;
	size_t nparts, max;
	size_t reserve;  /* units kept for "(i/n) " in parts after the first */
	int truncating;  /* cut the body to fit: keep hold units free in the
			  * last allowed part for the note and the tail */
	size_t hold;
	struct buf cur;
	size_t used, cap; /* units in cur (reserve included), and its limit */
	int fresh;       /* nothing written to cur yet */
	int content;     /* cur holds document text, not just line breaks */
	size_t stack[FMT_MAX_DEPTH]; /* open elements (segment indexes) */
	int written[FMT_MAX_DEPTH];  /* their open tag is in cur */
	size_t depth;
	size_t emitted;  /* units of document text placed so far */
};

static void pk_begin(struct packer *p)
{
	size_t k;

	buf_reset(&p->cur);
	p->used = p->nparts > 0 ? p->reserve : 0;
	p->cap = TG_MAX_TEXT;
	if (p->truncating && p->nparts + 1 == p->max)
		p->cap -= p->hold;
	p->fresh = 1;
	p->content = 0;
	for (k = 0; k < p->depth; k++)
		p->written[k] = 0;
}

static int pk_close_tags(struct packer *p)
{
	const char *close;
	size_t k;

	for (k = p->depth; k-- > 0;) {
		close = p->d->segs[p->stack[k]].close;
		if (p->written[k] &&
		    buf_append(&p->cur, close, strlen(close)) != 0)
			return -1;
	}
	return 0;
}

static int pk_store(struct packer *p)
{
	char *s = strndup(p->cur.data ? p->cur.data : "", p->cur.len);

	if (s == NULL)
		return -1;
	p->parts[p->nparts++] = s;
	return 0;
}

/* Moves on to a fresh part: 0, 1 if the current one is the last allowed,
 * -1 on error. */
static int pk_next(struct packer *p)
{
	if (p->nparts + 1 >= p->max)
		return 1;
	if (pk_close_tags(p) != 0 || pk_store(p) != 0)
		return -1;
	pk_begin(p);
	return 0;
}

/* Writes n bytes of document text worth units, opening pending tags. */
static int pk_write(struct packer *p, const char *s, size_t n, size_t units)
{
	const struct seg *o;
	size_t k;

	for (k = 0; k < p->depth; k++) {
		if (p->written[k])
			continue;
		o = &p->d->segs[p->stack[k]];
		if (buf_append(&p->cur, p->d->arena.data + o->off, o->len) != 0)
			return -1;
		p->written[k] = 1;
	}
	if ((p->d->plain ? buf_append(&p->cur, s, n) :
			   html_escape(&p->cur, s, n, 0)) != 0)
		return -1;
	p->used += units;
	p->emitted += units;
	p->fresh = 0;
	p->content = 1;
	return 0;
}

/* Longest prefix of whole characters of s[0..n) within room units. */
static size_t pk_fit(const char *s, size_t n, size_t room, size_t *units)
{
	size_t i = 0, u = 0, len, cu;

	while (i < n) {
		len = fmt_cplen((unsigned char)s[i]);
		cu = len == 4 ? 2 : 1;
		if (u + cu > room || i + len > n)
			break;
		u += cu;
		i += len;
	}
	*units = u;
	return i;
}

/* Places text, cutting it at character boundaries when the part fills. */
static int pk_text(struct packer *p, const char *s, size_t n, size_t units)
{
	size_t k, u;
	int r;

	while (n > 0) {
		if (units <= p->cap - p->used) {
			k = n;
			u = units;
		} else {
			k = pk_fit(s, n, p->cap - p->used, &u);
		}
		if (k > 0 && pk_write(p, s, k, u) != 0)
			return -1;
		s += k;
		n -= k;
		units -= u;
		if (n > 0 && (r = pk_next(p)) != 0)
			return r;
	}
	return 0;
}

static int pk_seg(struct packer *p, size_t k)
{
	const struct seg *s = &p->d->segs[k];
	const char *close;

	switch (s->kind) {
	case SEG_OPEN:
		if (p->depth >= FMT_MAX_DEPTH)
			return -1;
		p->stack[p->depth] = k;
		p->written[p->depth++] = 0;
		return 0;
	case SEG_CLOSE:
		if (p->depth == 0)
			return 0;
		close = p->d->segs[p->stack[--p->depth]].close;
		if (p->written[p->depth] &&
		    buf_append(&p->cur, close, strlen(close)) != 0)
			return -1;
		return 0;
	case SEG_TEXT:
		return pk_text(p, p->d->arena.data + s->off, s->len, s->units);
	default:
		return 0;
	}
}

/* Places segments [i, to) line by line: a line that does not fit in what
 * is left of the part starts a new one, unless it would not fit in a
 * whole part either; only such a line is cut. 0 when all is placed, 1
 * when out of parts, -1 on error. */
static int pk_run(struct packer *p, size_t i, size_t to)
{
	const struct doc *d = p->d;
	size_t end, units, k;
	int r;

	while (i < to) {
		units = 0;
		for (end = i; end < to && d->segs[end].kind != SEG_BREAK; end++)
			units += d->segs[end].units;
		if (p->content && p->used + !p->fresh + units > p->cap &&
		    units + p->reserve <= TG_MAX_TEXT && (r = pk_next(p)) != 0)
			return r;
		if (!p->fresh && p->used < p->cap) {
			if (buf_append(&p->cur, "\n", 1) != 0)
				return -1;
			p->used++;
		}
		for (k = i; k < end; k++)
			if ((r = pk_seg(p, k)) != 0)
				return r;
		i = end + 1;
	}
	return 0;
}

static size_t fmt_digits(size_t v)
{
	size_t n = 1;

	while (v >= 10)
		v /= 10, n++;
	return n;
}

/* Prefixes parts after the first with "(i/n) ", for which room was kept. */
static int pk_markers(char **parts, size_t n)
{
	char mark[48], *s;
	size_t k, ml, pl;

	for (k = 1; k < n; k++) {
		ml = (size_t)snprintf(mark, sizeof(mark), "(%zu/%zu) ", k + 1, n);
		pl = strlen(parts[k]);
		if ((s = malloc(ml + pl + 1)) == NULL)
			return -1;
		memcpy(s, mark, ml);
		memcpy(s + ml, parts[k], pl + 1);
		free(parts[k]);
		parts[k] = s;
	}
	return 0;
}

/* UTF-16 units of segments [from, to), line breaks included. */
static size_t doc_units(const struct doc *d, size_t from, size_t to)
{
	size_t u = 0;

	for (; from < to; from++)
		u += d->segs[from].kind == SEG_BREAK ? 1 : d->segs[from].units;
	return u;
}

/* Ends the body in the last allowed part with a note on how much of
 * [0, to) was not shown, and frees the room held for the tail. */
static int pk_cut(struct packer *p, size_t to)
{
	size_t k, left = 0;

	if (pk_close_tags(p) != 0)
		return -1;
	p->depth = 0; /* the rest of the body is skipped, its closes too */
	for (k = 0; k < to; k++)
		left += p->d->segs[k].units;
	left -= p->emitted;
	if (buf_printf(&p->cur, "%s… %zu more characters not shown",
		       p->fresh ? "" : "\n", left) != 0)
		return -1;
	p->used += FMT_NOTE_ROOM;
	p->cap = TG_MAX_TEXT;
	p->fresh = 0;
	p->content = 1;
	return 0;
}

/* Returns the number of parts, 0 if truncating is needed but was not
 * allowed, -1 on error. */
static int pk_doc(const struct doc *d, char **parts, size_t max,
		  int truncating)
{
	struct packer p;
	size_t k, tail = d->tail, to;
	int r;

	memset(&p, 0, sizeof(p));
	p.d = d;
	p.parts = parts;
	p.max = max;
	p.reserve = 4 + 2 * fmt_digits(max);
	p.truncating = truncating;
	/* The facts and the footer (with the #id operators need) survive a
	 * cut, unless they are too big to hold back. */
	p.hold = FMT_NOTE_ROOM + doc_units(d, tail, d->nseg);
	if (p.hold > TG_MAX_TEXT / 2) {
		tail = d->nseg;
		p.hold = FMT_NOTE_ROOM;
	}
	buf_init(&p.cur, FMT_PART_MAX);
	pk_begin(&p);
	r = pk_run(&p, 0, tail);
	to = tail;
	/* tail is a line break: a second run starts a new line anyway */
	if (r == 0 && tail < d->nseg) {
		r = pk_run(&p, tail + 1, d->nseg);
		to = d->nseg;
	}
	if (r == 1 && truncating) {
		r = pk_cut(&p, to);
		if (r == 0 && to < d->nseg)
			r = pk_run(&p, to + 1, d->nseg);
		if (r == 1) /* held room was short: keep what is placed */
			r = 0;
	}
	if (r == 1) {
		r = 0;
	} else if (r == 0) {
		if (pk_close_tags(&p) != 0 ||
		    ((!p.fresh || p.nparts == 0) && pk_store(&p) != 0) ||
		    pk_markers(parts, p.nparts) != 0)
			r = -1;
		else
			r = (int)p.nparts;
	}
	buf_free(&p.cur);
	if (r <= 0) {
		for (k = 0; k < p.nparts; k++) {
			free(parts[k]);
			parts[k] = NULL;
		}
	}
	return r;
}

static int fmt_parts(const struct alert *a, const struct format_extra *x,
		     char **parts, size_t max, int plain)
{
	struct doc d;
	int n = -1;

	if (a == NULL || parts == NULL || max == 0)
		return -1;
	if (max > INT32_MAX)
		max = INT32_MAX;
	doc_init(&d, plain);
	fmt_build(&d, a, x);
	if (!d.failed) {
		n = pk_doc(&d, parts, max, 0);
		if (n == 0)
			n = pk_doc(&d, parts, max, 1);
	}
	doc_free(&d);
	return n > 0 ? n : -1;
}

int format_alert(const struct alert *a, const struct format_extra *x,
		 char **parts, size_t max)
{
	return fmt_parts(a, x, parts, max, 0);
}

int format_alert_plain(const struct alert *a, const struct format_extra *x,
		       char **parts, size_t max)
{
	return fmt_parts(a, x, parts, max, 1);
}

/* --- splitting rendered HTML (templates) --- */

/* The tags Telegram knows, each with its closing markup. */
static const char *fmt_close_of(const char *name, size_t n)
{
	static const char *const closes[] = {
		"</b>", "</strong>", "</i>", "</em>", "</u>", "</ins>",
		"</s>", "</strike>", "</del>", "</tg-spoiler>", "</span>",
		"</a>", "</code>", "</pre>", "</blockquote>", "</tg-emoji>",
	};
	size_t k;

	for (k = 0; k < ARRAY_LEN(closes); k++)
		if (strlen(closes[k]) == n + 3 &&
		    strncasecmp(closes[k] + 2, name, n) == 0)
			return closes[k];
	return NULL;
}

/* Appends code point cp as UTF-8. */
static int fmt_put_cp(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
	}
	return buf_append(b, u, n);
}

/* End of the tag starting at h[i] == '<' (just past its '>', honouring
 * quoted attribute values), or 0 if it never ends. */
static size_t fmt_tag_end(const char *h, size_t n, size_t i)
{
	int quoted = 0;

	for (i++; i < n; i++) {
		if (h[i] == '"')
			quoted = !quoted;
		else if (h[i] == '>' && !quoted)
			return i + 1;
		else if (h[i] == '<' && !quoted)
			return 0;
	}
	return 0;
}

/* One tag at h[*pi]: an open pushes an element (its markup copied as it
 * is), a close must match the innermost open one. 0 or -1. */
static int doc_html_tag(struct doc *d, const char *h, size_t n, size_t *pi,
			const char **stack, size_t *depth)
{
	size_t i = *pi, end = fmt_tag_end(h, n, i), ns, off;
	int closing = i + 1 < n && h[i + 1] == '/';
	const char *close;

	if (end == 0)
		return -1;
	ns = i + 1 + (size_t)closing;
	for (i = ns; i < end && (h[i] == '-' || (h[i] >= 'a' && h[i] <= 'z') ||
				  (h[i] >= 'A' && h[i] <= 'Z')); i++)
		;
	if ((close = fmt_close_of(h + ns, i - ns)) == NULL)
		return -1;
	if (closing) {
		if (*depth == 0 || stack[*depth - 1] != close)
			return -1;
		(*depth)--;
		doc_close(d);
	} else {
		if (*depth >= FMT_MAX_DEPTH)
			return -1;
		stack[(*depth)++] = close;
		if (!d->plain) {
			off = d->arena.len;
			if (buf_append(&d->arena, h + *pi, end - *pi) != 0)
				return -1;
			doc_open_at(d, off, close);
		}
	}
	*pi = end;
	return 0;
}

/* Builds a document from well-formed Telegram HTML: text unescaped (it is
 * escaped again when written into a part), '\n' as line breaks. */
static int doc_from_html(struct doc *d, const char *h, size_t n)
{
	const char *stack[FMT_MAX_DEPTH];
	size_t i = 0, depth = 0, len;
	struct buf txt;
	uint32_t cp;
	int rc = -1;

	buf_init(&txt, FMT_DOC_MAX);
	while (i < n) {
		if (h[i] == '<') {
			doc_textn(d, txt.data, txt.len, 1);
			buf_reset(&txt);
			if (doc_html_tag(d, h, n, &i, stack, &depth) != 0)
				goto out;
		} else if (h[i] == '&') {
			if ((len = tg_html_entity(h + i, n - i, &cp)) == 0 ||
			    fmt_put_cp(&txt, cp) != 0)
				goto out;
			i += len;
		} else if (h[i] == '>') {
			goto out;
		} else {
			for (len = i; len < n && h[len] != '<' &&
			     h[len] != '&' && h[len] != '>'; len++)
				;
			if (buf_append(&txt, h + i, len - i) != 0)
				goto out;
			i = len;
		}
	}
	doc_textn(d, txt.data, txt.len, 1);
	rc = depth == 0 && !d->failed ? 0 : -1;
out:
	buf_free(&txt);
	return rc;
}

int format_html_parts(const char *html, size_t n, int plain, char **parts,
		      size_t max)
{
	struct doc d;
	int r = -1;

	if (html == NULL || parts == NULL || max == 0)
		return -1;
	if (max > INT32_MAX)
		max = INT32_MAX;
	doc_init(&d, plain);
	if (doc_from_html(&d, html, n) == 0) {
		d.tail = d.nseg; /* no footer to hold back */
		r = pk_doc(&d, parts, max, 0);
		if (r == 0)
			r = pk_doc(&d, parts, max, 1);
	}
	doc_free(&d);
	return r > 0 ? r : -1;
}

/* --- storm packs and the resolved note --- */

/* Appends s as a sanitised, escaped one-line headline of maxcp chars. */
static int fmt_esc_headline(struct buf *b, struct buf *tmp, const char *s,
			    size_t maxcp, int *whole)
{
	int r;

	buf_reset(tmp);
	if ((r = fmt_headline(tmp, s, maxcp)) < 0)
		return -1;
	if (whole)
		*whole = r;
	if (tmp->len == 0)
		return buf_append(b, "(no text)", 9);
	return html_escape(b, tmp->data, tmp->len, 0);
}

/*
 * One compact block: "MARKER <b>title</b> · <code>source</code> #ID" and
 * the first line of the text under it; in a storm (dense) just the first
 * line, shorter (the pack ends with a pointer to /alert ID). The source is left out when it is
 * the same as the block above (storms tend to come from one place). Every
 * field is cut, so a block stays far below TG_MAX_TEXT: 80 + 40 + 100
 * characters, at most 2 units each, plus a few dozen of decoration.
 */
static int fmt_block(struct buf *b, struct buf *tmp,
		     const struct pack_line *l, const char *prev_source,
		     int dense)
{
	const struct alert *a = l->a;
	const char *head = fmt_has(a->title) ? a->title :
			   fmt_has(a->text) ? a->text : "alert";

	if (buf_printf(b, "%s <b>", a->status == ALERT_RESOLVED ||
		       l->resolved ? "✅" : format_marker(a->severity)) != 0 ||
	    fmt_esc_headline(b, tmp, head, dense ? FMT_DENSE_HEAD_CHARS :
			     FMT_HEAD_CHARS, NULL) != 0 ||
	    buf_append(b, "</b>", 4) != 0)
		return -1;
	if (fmt_has(a->source) &&
	    (prev_source == NULL || strcmp(prev_source, a->source) != 0)) {
		if (buf_append(b, " · <code>", strlen(" · <code>")) != 0 ||
		    fmt_esc_headline(b, tmp, a->source, dense ?
				     FMT_DENSE_SOURCE_CHARS :
				     FMT_PACK_SOURCE_CHARS, NULL) != 0 ||
		    buf_append(b, "</code>", 7) != 0)
			return -1;
	}
	if (buf_printf(b, " #%lld", (long long)a->id) != 0)
		return -1;
	if (l->acked_by != NULL && buf_append(b, " ☑️", strlen(" ☑️")) != 0)
		return -1;
	/* Without a title the text's first line is already the headline. */
	if (!dense && fmt_has(a->title) && fmt_has(a->text) &&
	    strcmp(a->title, a->text) != 0) {
		if (buf_append(b, "\n", 1) != 0 ||
		    fmt_esc_headline(b, tmp, a->text, FMT_PACK_TEXT_CHARS,
				     NULL) != 0)
			return -1;
	}
	return 0;
}

/* "☑️ acked by @a, @b and 2 more": the distinct names, in line order. */
static int fmt_pack_ackers(struct buf *b, struct buf *tmp,
			   const struct pack_line *lines, size_t n)
{
	const char *names[FMT_PACK_ACKERS];
	size_t k, j, nn = 0, more = 0;

	for (k = 0; k < n; k++) {
		if (lines[k].acked_by == NULL)
			continue;
		for (j = 0; j < nn; j++)
			if (strcmp(names[j], lines[k].acked_by) == 0)
				break;
		if (j < nn)
			continue;
		if (nn < FMT_PACK_ACKERS)
			names[nn++] = lines[k].acked_by;
		else
			more++;
	}
	if (nn == 0)
		return 0;
	if (buf_append(b, "\n☑️ acked by ", strlen("\n☑️ acked by ")) != 0)
		return -1;
	for (j = 0; j < nn; j++) {
		if (j > 0 && buf_append(b, ", ", 2) != 0)
			return -1;
		if (fmt_esc_headline(b, tmp, names[j], FMT_PACK_ACKER_CHARS,
				     NULL) != 0)
			return -1;
	}
	return more ? buf_printf(b, " and %zu more", more) : 0;
}

size_t format_pack(const struct alert *const *alerts, size_t n, char **out)
{
	struct pack_opts o = { .dense = n > FMT_PACK_DENSE_AT };
	struct pack_line *l = calloc(n ? n : 1, sizeof(*l));
	size_t k;

	*out = NULL;
	if (l == NULL)
		return 0;
	for (k = 0; k < n; k++)
		l[k].a = alerts[k];
	k = format_pack_lines(l, n, &o, out);
	free(l);
	return k;
}

size_t format_pack_lines(const struct pack_line *lines, size_t n,
			 const struct pack_opts *o, char **out)
{
	struct buf body, blk, tmp, msg;
	const char *prev = NULL;
	size_t k, units = 0, u, count = 0;
	int dense = o != NULL && o->dense;
	int late = o != NULL && fmt_has(o->late);
	size_t room = TG_MAX_TEXT - FMT_PACK_HEAD_ROOM - FMT_PACK_FOOT_ROOM -
		      (late ? FMT_PACK_NOTE_ROOM : 0) -
		      (dense ? FMT_DENSE_FOOTER_UNITS : 0);

	*out = NULL;
	if (n == 0)
		return 0;
	buf_init(&body, FMT_PART_MAX);
	buf_init(&blk, FMT_PART_MAX);
	buf_init(&tmp, FMT_PART_MAX);
	buf_init(&msg, FMT_PART_MAX);
	for (k = 0; k < n; k++) {
		buf_reset(&blk);
		if (fmt_block(&blk, &tmp, &lines[k], k ? prev : NULL,
			      dense) != 0)
			goto out;
		u = 1 + tg_visible_len(blk.data, blk.len);
		if (k > 0 && units + u > room)
			break;
		if (buf_append(&body, "\n", 1) != 0 ||
		    buf_append(&body, blk.data, blk.len) != 0)
			goto out;
		units += u;
		prev = lines[k].a->source;
	}
	if (buf_printf(&msg, "📦 <b>%zu alert%s</b>", k, k == 1 ? "" : "s"))
		goto out;
	if (late &&
	    (buf_append(&msg, "\n<i>⏰ ", strlen("\n<i>⏰ ")) != 0 ||
	     fmt_esc_headline(&msg, &tmp, o->late, FMT_PACK_NOTE_CHARS,
			      NULL) != 0 ||
	     buf_append(&msg, "</i>", 4) != 0))
		goto out;
	if (buf_append(&msg, body.data, body.len) != 0 ||
	    (dense && buf_append(&msg, FMT_DENSE_FOOTER,
				 strlen(FMT_DENSE_FOOTER)) != 0) ||
	    fmt_pack_ackers(&msg, &tmp, lines, k) != 0)
		goto out;
	*out = msg.data;
	msg.data = NULL;
	count = k;
out:
	buf_free(&body);
	buf_free(&blk);
	buf_free(&tmp);
	buf_free(&msg);
	return count;
}

char *format_resolved_note(const struct alert *a)
{
	struct buf b, tmp;
	const char *head;
	char *s = NULL;

	if (a == NULL)
		return NULL;
	head = fmt_has(a->title) ? a->title :
	       fmt_has(a->text) ? a->text : "alert";
	buf_init(&b, FMT_PART_MAX);
	buf_init(&tmp, FMT_PART_MAX);
	if (buf_append(&b, "✅ Resolved: <b>", strlen("✅ Resolved: <b>")) == 0 &&
	    fmt_esc_headline(&b, &tmp, head, FMT_HEAD_CHARS, NULL) == 0 &&
	    buf_printf(&b, "</b> #%lld", (long long)a->id) == 0) {
		s = b.data;
		b.data = NULL;
	}
	buf_free(&b);
	buf_free(&tmp);
	return s;
}
