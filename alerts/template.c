/*
 * template.c - message templates (see template.h): the compiler (text to
 * a flat list of nodes, sections pointing at their ends), the renderer
 * (values escaped, markup copied), the check run by configuration loading
 * (sample alerts, hostile ones included, through the Telegram HTML
 * validator, with the template line of the first problem) and the
 * message builders that fall back to the built-in layout.
 */
#include "alerts/template.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/tgvalidate.h"
#include "bot/util.h"

#define TPL_MAX_NAME 64       /* bytes of a field name in {{...}} */
#define TPL_MAX_MAP 65536     /* output-to-line entries kept by a check */
#define TPL_ERR_CTX 48        /* bytes of a bad tag quoted in a message */

enum tn_kind { TN_TEXT, TN_VAR, TN_IF, TN_UNLESS, TN_LOOP, TN_END };

enum tf {
	TF_TITLE, TF_TEXT, TF_SOURCE, TF_SEVERITY, TF_SEVERITY_UP, TF_ICON, TF_KEY,
	TF_URL, TF_TIME, TF_STATUS, TF_ID, TF_REPEATS, TF_ACKED_BY, TF_RESOLVED,
	TF_ACKED, TF_LABELS, TF_LABEL, TF_NAME, TF_VALUE
};

/* What a name may be used as. */
#define TU_VAR 1
#define TU_SECTION 2
#define TU_LOOP 4   /* name and value: inside {{#labels}} only */

static const struct {
	const char *name;
	enum tf field;
	int uses;
} tpl_fields[] = {
	{ "title", TF_TITLE, TU_VAR | TU_SECTION },
	{ "text", TF_TEXT, TU_VAR | TU_SECTION },
	{ "source", TF_SOURCE, TU_VAR | TU_SECTION },
	{ "severity", TF_SEVERITY, TU_VAR | TU_SECTION },
	{ "SEVERITY", TF_SEVERITY_UP, TU_VAR | TU_SECTION },
	{ "icon", TF_ICON, TU_VAR | TU_SECTION },
	{ "key", TF_KEY, TU_VAR | TU_SECTION },
	{ "url", TF_URL, TU_VAR | TU_SECTION },
	{ "time", TF_TIME, TU_VAR | TU_SECTION },
	{ "status", TF_STATUS, TU_VAR | TU_SECTION },
	{ "id", TF_ID, TU_VAR | TU_SECTION },
	{ "repeats", TF_REPEATS, TU_VAR | TU_SECTION },
	{ "acked_by", TF_ACKED_BY, TU_VAR | TU_SECTION },
	{ "resolved", TF_RESOLVED, TU_SECTION },
	{ "acked", TF_ACKED, TU_SECTION },
	{ "labels", TF_LABELS, TU_SECTION },
	{ "name", TF_NAME, TU_VAR | TU_LOOP },
	{ "value", TF_VALUE, TU_VAR | TU_LOOP },
};

struct tnode {
	enum tn_kind kind;
	enum tf field;
	uint32_t off, len; /* TN_TEXT: the text; TF_LABEL: the label name */
	uint32_t end;      /* sections: index of their TN_END */
	int line;          /* in the template, from 1 */
};

struct template {
	char *src;
	size_t nsrc;
	struct tnode *nodes;
	size_t nnodes;
	char name[256];
	int line0;     /* config line of an inline template, negated */
};

/* "FILE:LINE: " for template line `line`: the file's own line, or for an
 * inline template the configuration's line and the template's. */
static const char *tpl_where(const struct template *t, int line, char *buf,
			     size_t size)
{
	if (t->line0 < 0)
		snprintf(buf, size, "%s:%d: template line %d: ", t->name,
			 -t->line0, line);
	else
		snprintf(buf, size, "%s:%d: ", t->name, t->line0 + line - 1);
	return buf;
}

/* ---- compiling ----------------------------------------------------------- */

struct tpl_comp {
	struct template *t;
	size_t stack[TEMPLATE_MAX_DEPTH]; /* open sections (node indexes) */
	size_t depth;
	int in_loop;
	char *err;
	size_t errlen;
};

static int tpl_fail(struct tpl_comp *c, int line, const char *fmt, ...)
	ATTR_PRINTF(3, 4);
static int tpl_fail(struct tpl_comp *c, int line, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	char where[320];

	return err_set(c->err, c->errlen, "%s%s",
		       tpl_where(c->t, line, where, sizeof(where)), text);
}

static struct tnode *tpl_push(struct tpl_comp *c, enum tn_kind kind,
			      int line)
{
	struct tnode *n = &c->t->nodes[c->t->nnodes++];

	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	return n;
}

/* 1 if the name is made of name characters only. */
static int tpl_name_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		      ch == '.'))
			return 0;
	}
	return n > 0;
}

/* Resolves a name to a field (and, for labels.NAME, the label name's
 * place in src). */
static int tpl_field(struct tpl_comp *c, struct tnode *n, const char *s,
		     size_t len, int use, int line)
{
	const char *src = c->t->src;

	if (!tpl_name_ok(s, len) || len >= TPL_MAX_NAME)
		return tpl_fail(c, line, "invalid name \"%.*s\" in {{...}}",
				(int)(len < TPL_ERR_CTX ? len : TPL_ERR_CTX), s);
	if (len > 7 && memcmp(s, "labels.", 7) == 0) {
		n->field = TF_LABEL;
		n->off = (uint32_t)(s + 7 - src);
		n->len = (uint32_t)(len - 7);
		return 0;
	}
	for (size_t k = 0; k < ARRAY_LEN(tpl_fields); k++) {
		if (strlen(tpl_fields[k].name) != len ||
		    memcmp(tpl_fields[k].name, s, len) != 0)
			continue;
		if (!(tpl_fields[k].uses & use))
			return tpl_fail(c, line, "{{%s}} cannot be used %s",
					tpl_fields[k].name, use == TU_VAR ?
					"as a value (only in {{#...}})" :
					"as a section");
		if ((tpl_fields[k].uses & TU_LOOP) && !c->in_loop)
			return tpl_fail(c, line, "{{%s}} outside "
					"{{#labels}}...{{/labels}}",
					tpl_fields[k].name);
		n->field = tpl_fields[k].field;
		return 0;
	}
	return tpl_fail(c, line, "unknown field \"%.*s\" (see the list in "
			"opsbot(8))", (int)len, s);
}

/* The name a section was opened with, as written. */
static void tpl_section_name(const struct template *t, const struct tnode *n,
			     char *dst, size_t size)
{
	if (n->field == TF_LABEL) {
		snprintf(dst, size, "labels.%.*s", (int)n->len, t->src + n->off);
		return;
	}
	for (size_t k = 0; k < ARRAY_LEN(tpl_fields); k++)
		if (tpl_fields[k].field == n->field)
			snprintf(dst, size, "%s", tpl_fields[k].name);
}

static int tpl_open(struct tpl_comp *c, char sigil, const char *s,
		    size_t len, int line)
{
	struct tnode *n;

	if (c->depth >= TEMPLATE_MAX_DEPTH)
		return tpl_fail(c, line, "sections nested deeper than %d",
				TEMPLATE_MAX_DEPTH);
	n = tpl_push(c, sigil == '#' ? TN_IF : TN_UNLESS, line);
	if (tpl_field(c, n, s, len, TU_SECTION, line) != 0)
		return -1;
	if (n->field == TF_LABELS && sigil == '#') {
		if (c->in_loop)
			return tpl_fail(c, line, "{{#labels}} inside "
					"{{#labels}}");
		n->kind = TN_LOOP;
		c->in_loop = 1;
	}
	c->stack[c->depth++] = c->t->nnodes - 1;
	return 0;
}

static int tpl_close(struct tpl_comp *c, const char *s, size_t len, int line)
{
	struct tnode *open;
	char want[TPL_MAX_NAME + 8];

	if (c->depth == 0)
		return tpl_fail(c, line, "{{/%.*s}} without an open section",
				(int)(len < TPL_ERR_CTX ? len : TPL_ERR_CTX), s);
	open = &c->t->nodes[c->stack[c->depth - 1]];
	tpl_section_name(c->t, open, want, sizeof(want));
	if (strlen(want) != len || memcmp(want, s, len) != 0)
		return tpl_fail(c, line, "{{/%.*s}} closes {{%c%s}} opened on "
				"line %d", (int)(len < TPL_ERR_CTX ? len :
						 TPL_ERR_CTX), s,
				open->kind == TN_UNLESS ? '^' : '#', want,
				open->line);
	if (open->kind == TN_LOOP)
		c->in_loop = 0;
	open->end = (uint32_t)c->t->nnodes;
	tpl_push(c, TN_END, line);
	c->depth--;
	return 0;
}

/* One {{...}}: body[0..len) is what is between the braces. */
static int tpl_tag(struct tpl_comp *c, const char *body, size_t len, int line)
{
	char sigil = len > 0 ? body[0] : '\0';
	struct tnode *n;

	if (sigil == '!')
		return 0;
	if (sigil == '#' || sigil == '^' || sigil == '/') {
		body++;
		len--;
	}
	while (len > 0 && (*body == ' ' || *body == '\t'))
		body++, len--;
	while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\t'))
		len--;
	if (sigil == '{' || sigil == '&')
		return tpl_fail(c, line, "unescaped values ({{{...}}}, {{&...}}) "
				"are not supported: every value is escaped");
	if (sigil == '#' || sigil == '^')
		return tpl_open(c, sigil, body, len, line);
	if (sigil == '/')
		return tpl_close(c, body, len, line);
	n = tpl_push(c, TN_VAR, line);
	return tpl_field(c, n, body, len, TU_VAR, line);
}

static int tpl_parse(struct tpl_comp *c)
{
	const char *s = c->t->src, *open, *close;
	size_t i = 0, n = c->t->nsrc;
	int line = 1;
	struct tnode *t;

	while (i < n) {
		open = memmem(s + i, n - i, "{{", 2);
		if (open == NULL)
			open = s + n;
		if (open > s + i) {
			t = tpl_push(c, TN_TEXT, line);
			t->off = (uint32_t)i;
			t->len = (uint32_t)(open - (s + i));
			for (const char *p = s + i; p < open; p++)
				line += *p == '\n';
		}
		if (open == s + n)
			break;
		close = memmem(open + 2, (size_t)(s + n - open - 2), "}}", 2);
		if (close == NULL)
			return tpl_fail(c, line, "unclosed {{ (no }} after it)");
		/* {{{x}}}: the third brace belongs to the tag */
		if (close + 2 < s + n && close[2] == '}')
			close++;
		if (memchr(open, '\n', (size_t)(close - open)) != NULL &&
		    open[2] != '!')
			return tpl_fail(c, line, "a {{...}} tag must be on one "
					"line");
		if (tpl_tag(c, open + 2, (size_t)(close - open - 2), line) != 0)
			return -1;
		for (const char *p = open; p < close; p++)
			line += *p == '\n';
		i = (size_t)(close + 2 - s);
	}
	if (c->depth > 0) {
		char name[TPL_MAX_NAME + 8];
		const struct tnode *o = &c->t->nodes[c->stack[c->depth - 1]];

		tpl_section_name(c->t, o, name, sizeof(name));
		return tpl_fail(c, o->line, "unclosed {{%c%s}}",
				o->kind == TN_UNLESS ? '^' : '#', name);
	}
	return 0;
}

struct template *template_compile(const char *text, size_t len,
				  const char *name, int line0, char *err,
				  size_t errlen)
{
	struct tpl_comp c;
	struct template *t;

	if (name == NULL)
		name = "template";
	if (line0 == 0)
		line0 = 1;
	if (text == NULL || len > TEMPLATE_MAX_TEXT) {
		err_set(err, errlen, "%s:%d: template too large (max %d bytes)",
			name, line0 < 0 ? -line0 : line0, TEMPLATE_MAX_TEXT);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL || !utf8_valid(text, len)) {
		err_set(err, errlen, "%s:%d: template is not valid UTF-8 text",
			name, line0 < 0 ? -line0 : line0);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	/* Every node but END takes at least one byte of text; every END
	 * takes five ({{/x}}): len + 1 nodes are always enough. */
	if (t == NULL || (t->src = malloc(len + 1)) == NULL ||
	    (t->nodes = calloc(len + 1, sizeof(*t->nodes))) == NULL) {
		template_free(t);
		err_set(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	memcpy(t->src, text, len);
	t->src[len] = '\0';
	t->nsrc = len;
	str_copy(t->name, name, sizeof(t->name));
	t->line0 = line0;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.err = err;
	c.errlen = errlen;
	if (tpl_parse(&c) != 0) {
		template_free(t);
		return NULL;
	}
	return t;
}

void template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->src);
	free(t->nodes);
	free(t);
}

/* ---- rendering ----------------------------------------------------------- */

/* Where each piece of output came from, for a check's messages. */
struct tpl_map {
	size_t *off;
	const struct tnode **node;
	size_t n, cap;
};

struct tpl_render {
	const struct template *t;
	const struct alert *a;
	const struct format_extra *x;
	cJSON *labels;
	const cJSON *label; /* the current one in {{#labels}} */
	struct buf *out;
	struct tpl_map *map;
};

static int tpl_has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int tpl_resolved(const struct tpl_render *r)
{
	return r->a->status == ALERT_RESOLVED || (r->x && r->x->resolved);
}

static const cJSON *tpl_label(const struct tpl_render *r,
			      const struct tnode *n)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, r->labels) {
		if (cJSON_IsString(it) && it->string != NULL &&
		    strlen(it->string) == n->len &&
		    memcmp(it->string, r->t->src + n->off, n->len) == 0)
			return it;
	}
	return NULL;
}

/* The value of a field as text (in tmp when it has to be made), or NULL
 * when absent. */
static const char *tpl_value(const struct tpl_render *r,
			     const struct tnode *n, char *tmp, size_t size)
{
	const struct alert *a = r->a;
	const char *sev = severity_name(a->severity);
	const cJSON *l;
	size_t i;

	if (sev == NULL)
		sev = "unknown";
	switch (n->field) {
	case TF_TITLE: return a->title;
	case TF_TEXT: return a->text;
	case TF_SOURCE: return a->source;
	case TF_KEY: return a->key;
	case TF_URL: return a->url;
	case TF_SEVERITY: return sev;
	case TF_SEVERITY_UP:
		for (i = 0; sev[i] && i + 1 < size; i++)
			tmp[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ?
					sev[i] - 'a' + 'A' : sev[i]);
		tmp[i] = '\0';
		return tmp;
	case TF_ICON:
		return tpl_resolved(r) ? "✅" : format_marker(a->severity);
	case TF_TIME:
		fmt_clock(tmp, size, a->received_at, "%Y-%m-%d %H:%M:%S %Z");
		return tmp;
	case TF_STATUS: return tpl_resolved(r) ? "resolved" : "firing";
	case TF_ID:
		snprintf(tmp, size, "%lld", (long long)a->id);
		return tmp;
	case TF_REPEATS:
		if (a->repeats <= 0)
			return NULL;
		snprintf(tmp, size, "%d", a->repeats);
		return tmp;
	case TF_ACKED_BY: return r->x ? r->x->acked_by : NULL;
	case TF_RESOLVED: return tpl_resolved(r) ? "resolved" : NULL;
	case TF_ACKED: return r->x && r->x->acked_by ? "acked" : NULL;
	case TF_LABELS: return cJSON_GetArraySize(r->labels) > 0 ? "" : NULL;
	case TF_LABEL:
		l = tpl_label(r, n);
		return l ? l->valuestring : NULL;
	case TF_NAME: return r->label ? r->label->string : NULL;
	case TF_VALUE: return r->label ? r->label->valuestring : NULL;
	}
	return NULL;
}

static void tpl_mark(struct tpl_render *r, const struct tnode *n)
{
	struct tpl_map *m = r->map;

	if (m == NULL || m->n >= TPL_MAX_MAP)
		return;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		size_t *off = realloc(m->off, cap * sizeof(*off));
		const struct tnode **nd;

		if (off == NULL)
			return;
		m->off = off;
		if ((nd = realloc(m->node, cap * sizeof(*nd))) == NULL)
			return;
		m->node = nd;
		m->cap = cap;
	}
	m->off[m->n] = r->out->len;
	m->node[m->n++] = n;
}

static int tpl_run(struct tpl_render *r, size_t from, size_t to)
{
	const struct template *t = r->t;
	char tmp[96];
	const char *v;
	const cJSON *it;

	for (size_t i = from; i < to; i++) {
		const struct tnode *n = &t->nodes[i];
		int present;

		switch (n->kind) {
		case TN_TEXT:
			tpl_mark(r, n);
			if (buf_append(r->out, t->src + n->off, n->len) != 0)
				return -1;
			break;
		case TN_VAR:
			v = tpl_value(r, n, tmp, sizeof(tmp));
			tpl_mark(r, n);
			if (v != NULL &&
			    html_escape(r->out, v, strlen(v), 1) != 0)
				return -1;
			break;
		case TN_IF:
		case TN_UNLESS:
			v = tpl_value(r, n, tmp, sizeof(tmp));
			present = v != NULL && (v[0] != '\0' ||
						n->field == TF_LABELS);
			if (present == (n->kind == TN_IF) &&
			    tpl_run(r, i + 1, n->end) != 0)
				return -1;
			i = n->end;
			break;
		case TN_LOOP:
			cJSON_ArrayForEach(it, r->labels) {
				if (!cJSON_IsString(it) || it->string == NULL)
					continue;
				r->label = it;
				if (tpl_run(r, i + 1, n->end) != 0)
					return -1;
			}
			r->label = NULL;
			i = n->end;
			break;
		case TN_END:
			break;
		}
	}
	return 0;
}

static int tpl_render_map(const struct template *t, const struct alert *a,
			  const struct format_extra *x, struct buf *out,
			  struct tpl_map *map)
{
	struct tpl_render r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.t = t;
	r.a = a;
	r.x = x;
	r.out = out;
	r.map = map;
	if (tpl_has(a->labels)) {
		r.labels = cJSON_Parse(a->labels);
		if (r.labels != NULL && !cJSON_IsObject(r.labels)) {
			cJSON_Delete(r.labels);
			r.labels = NULL;
		}
	}
	rc = tpl_run(&r, 0, t->nnodes);
	cJSON_Delete(r.labels);
	return rc;
}

int template_render(const struct template *t, const struct alert *a,
		    const struct format_extra *x, struct buf *out)
{
	if (t == NULL || a == NULL || out == NULL)
		return -1;
	return tpl_render_map(t, a, x, out, NULL);
}

/* ---- messages ------------------------------------------------------------ */

static void tpl_free_parts(char **parts, int n)
{
	for (int k = 0; k < n; k++) {
		free(parts[k]);
		parts[k] = NULL;
	}
}

/* Renders and splits; -1 (nothing left in parts) when the result is not
 * something Telegram takes. */
static int tpl_parts(const struct template *t, const struct alert *a,
		     const struct format_extra *x, int plain, char **parts,
		     size_t max)
{
	struct buf out;
	int n = -1;

	buf_init(&out, TEMPLATE_MAX_OUTPUT);
	if (template_render(t, a, x, &out) == 0 && out.len > 0)
		n = format_html_parts(out.data, out.len, plain, parts, max);
	buf_free(&out);
	for (int k = 0; k < n; k++) {
		size_t len = strlen(parts[k]);

		if (plain ? len == 0 || !utf8_valid(parts[k], len) :
			    tg_html_validate(parts[k], len, NULL, 0) != 0) {
			tpl_free_parts(parts, n);
			return -1;
		}
	}
	return n;
}

int format_alert_template(const struct template *t, const struct alert *a,
			  const struct format_extra *x, int plain,
			  char **parts, size_t max)
{
	int n;

	if (t != NULL && a != NULL && parts != NULL && max > 0 &&
	    (n = tpl_parts(t, a, x, plain, parts, max)) > 0)
		return n;
	return plain ? format_alert_plain(a, x, parts, max) :
		       format_alert(a, x, parts, max);
}

/* ---- the check ----------------------------------------------------------- */

/* The values the delivery tests throw at the formatter. */
static const char *const tpl_hostile[] = {
	"<script>alert(1)</script>", "</b></i>", "&amp; &lt; & < >", "a & b",
	"\"><a href=\"x\">", "<br>", "line1\nline2\n\nline4", "emoji 🔥🚒 ok",
	"\u202ERTL override", "tab\there", "&#1234; &#x41;",
	"&nbsp;", "<<<<>>>>", "<pre><code>", "`code` *bold* _it_",
	"{{title}} {{#labels}}", "",
};

#define TPL_LONG_X 5000   /* "x" * 5000 */
#define TPL_LONG_EMOJI 3000 /* "🔥" * 3000 */

/* A sample alert: its strings point at constants, cast for struct
 * alert's sake; the renderer only reads them. */
struct tpl_sample {
	struct alert a;
	struct format_extra x;
	char what[96];
};

/* Fills s with sample number k; long strings are built in big (which
 * must hold TPL_LONG_EMOJI * 4 + 1 bytes). Returns 0 past the last. */
static int tpl_sample(struct tpl_sample *s, size_t k, char *big,
		      char *labels, size_t lsize)
{
	static const char *const shapes[] = {
		"with every field", "with only a text", "with only a title",
	};
	size_t nshapes = ARRAY_LEN(shapes), nsev = SEV_COUNT * 2;
	const char *h;

	memset(s, 0, sizeof(*s));
	s->a.id = 42;
	s->a.received_at = 1700000000000LL;
	if (k < nsev * nshapes) {
		size_t shape = k / nsev;

		s->a.severity = (enum severity)(k % SEV_COUNT);
		s->a.status = (k % nsev) >= SEV_COUNT ? ALERT_RESOLVED :
							  ALERT_FIRING;
		snprintf(s->what, sizeof(s->what), "%s %s alert %s",
			 severity_name(s->a.severity),
			 s->a.status ? "resolved" : "firing", shapes[shape]);
		if (shape == 1) {
			s->a.text = (char *)"disk full";
			return 1;
		}
		if (shape == 2) {
			s->a.title = (char *)"Disk full";
			return 1;
		}
		s->a.title = (char *)"Disk <b>full</b> & more";
		s->a.text = (char *)"line 1 <i>x</i> &amp; 🔥\n</b>line 2";
		s->a.source = (char *)"db<1>";
		s->a.key = (char *)"db1/disk&full";
		s->a.url = (char *)"https://grafana.example/d/abc?a=1&b=\"2\"";
		s->a.labels = (char *)"{\"env\":\"prod<1>\",\"team\":"
			      "\"a&b\",\"emoji\":\"🔥\"}";
		s->a.repeats = 3;
		s->x.acked_by = "@jane <x>";
		s->x.acked_at = 1700000060000LL;
		return 1;
	}
	k -= nsev * nshapes;
	s->a.severity = (enum severity)(k % SEV_COUNT);
	if (k < ARRAY_LEN(tpl_hostile)) {
		h = tpl_hostile[k];
		snprintf(s->what, sizeof(s->what), "%s alert with fields "
			 "\"%.40s\"", severity_name(s->a.severity), h);
	} else if (k == ARRAY_LEN(tpl_hostile)) {
		memset(big, 'x', TPL_LONG_X);
		big[TPL_LONG_X] = '\0';
		h = big;
		snprintf(s->what, sizeof(s->what), "alert with %d characters "
			 "of text", TPL_LONG_X);
	} else if (k == ARRAY_LEN(tpl_hostile) + 1) {
		for (size_t i = 0; i < TPL_LONG_EMOJI; i++)
			memcpy(big + 4 * i, "🔥", 4);
		big[4 * TPL_LONG_EMOJI] = '\0';
		h = big;
		snprintf(s->what, sizeof(s->what), "alert with %d emoji",
			 TPL_LONG_EMOJI);
	} else {
		return 0;
	}
	s->a.text = (char *)(h[0] ? h : "-");
	s->a.title = h[0] ? (char *)h : NULL;
	s->a.source = (char *)h;
	s->a.key = (char *)h;
	/* The label value, JSON-escaped, and at most ALERT_MAX_LABEL_VALUE
	 * bytes like a parsed alert's. */
	{
		cJSON *o = cJSON_CreateObject();
		char v[ALERT_MAX_LABEL_VALUE + 1], *js;
		size_t n = strlen(h);

		if (n > ALERT_MAX_LABEL_VALUE)
			n = ALERT_MAX_LABEL_VALUE;
		while (n > 0 && ((unsigned char)h[n] & 0xC0) == 0x80)
			n--; /* whole characters only */
		memcpy(v, h, n);
		v[n] = '\0';
		cJSON_AddStringToObject(o, "l", v);
		cJSON_AddStringToObject(o, "env", "prod");
		js = cJSON_PrintUnformatted(o);
		str_copy(labels, js ? js : "{}", lsize);
		cJSON_free(js);
		cJSON_Delete(o);
		s->a.labels = labels;
	}
	return 1;
}

/* The template line that wrote output byte off: a value's tag, or the
 * line inside a piece of the template's own text. */
static int tpl_line_at(const struct template *t, const struct tpl_map *m,
		       size_t off)
{
	const struct tnode *n = NULL;
	size_t i, at = 0;
	int line;

	for (i = 0; i < m->n && m->off[i] <= off; i++) {
		n = m->node[i];
		at = m->off[i];
	}
	if (n == NULL)
		return 1;
	line = n->line;
	if (n->kind == TN_TEXT)
		for (i = 0; i < off - at && i < n->len; i++)
			line += t->src[n->off + i] == '\n';
	return line;
}

/* Where the innermost tag left open at the end of (otherwise valid) html
 * starts. */
static size_t tpl_unclosed_at(const char *h, size_t n)
{
	size_t stack[64], depth = 0, i = 0, last = 0;

	while (i < n) {
		int quoted = 0;
		size_t start = i;

		if (h[i] != '<') {
			i++;
			continue;
		}
		for (i++; i < n && (quoted || h[i] != '>'); i++)
			if (h[i] == '"')
				quoted = !quoted;
		if (start + 1 < n && h[start + 1] == '/') {
			if (depth > 0)
				depth--;
		} else if (depth < ARRAY_LEN(stack)) {
			stack[depth++] = start;
		}
		last = start;
	}
	return depth > 0 ? stack[depth - 1] : last;
}

/* Checks one sample; 0 or -1 with the message in err. */
static int tpl_check_one(const struct template *t, const struct tpl_sample *s,
			 struct buf *out, struct tpl_map *map, char *err,
			 size_t errlen)
{
	char why[256], *parts[FORMAT_MAX_PARTS], *at, where[320];
	size_t off = 0;
	int n, line;

	buf_reset(out);
	map->n = 0;
	if (tpl_render_map(t, &s->a, &s->x, out, map) != 0)
		return err_set(err, errlen, "%srenders more than %d bytes "
			       "(sample: %s)", tpl_where(t, 1, where,
							 sizeof(where)),
			       TEMPLATE_MAX_OUTPUT, s->what);
	if (tg_html_validate(out->data ? out->data : "", out->len, why,
			     sizeof(why)) != 0 &&
	    strncmp(why, "message is too long", 19) != 0) {
		if ((at = strstr(why, " at byte ")) != NULL)
			off = strtoull(at + 9, NULL, 10);
		else if (strncmp(why, "unclosed", 8) == 0)
			off = tpl_unclosed_at(out->data, out->len);
		else
			off = out->len; /* empty: blame the last line */
		line = out->len ? tpl_line_at(t, map, off) : 1;
		if (at != NULL)
			*at = '\0';
		return err_set(err, errlen, "%snot valid Telegram HTML: "
			       "%s (sample: %s)", tpl_where(t, line, where,
							    sizeof(where)),
			       why, s->what);
	}
	n = format_html_parts(out->data, out->len, 0, parts, FORMAT_MAX_PARTS);
	if (n < 0)
		return err_set(err, errlen, "%scannot be split into "
			       "messages (tags nested deeper than 8?) "
			       "(sample: %s)", tpl_where(t, 1, where,
							 sizeof(where)),
			       s->what);
	for (int k = 0; k < n; k++) {
		if (tg_html_validate(parts[k], strlen(parts[k]), why,
				     sizeof(why)) != 0) {
			tpl_free_parts(parts, n);
			return err_set(err, errlen, "%spart %d of the "
				       "message is not valid: %s (sample: %s)",
				       tpl_where(t, 1, where, sizeof(where)),
				       k + 1, why, s->what);
		}
	}
	tpl_free_parts(parts, n);
	return 0;
}

int template_check(const struct template *t, char *err, size_t errlen)
{
	struct tpl_sample s;
	struct tpl_map map;
	struct buf out;
	char *big, labels[2048];
	int rc = 0;

	if (t == NULL)
		return err_set(err, errlen, "no template");
	big = malloc(4 * TPL_LONG_EMOJI + TPL_LONG_X + 1);
	if (big == NULL)
		return err_set(err, errlen, "%s: out of memory", t->name);
	memset(&map, 0, sizeof(map));
	buf_init(&out, TEMPLATE_MAX_OUTPUT);
	for (size_t k = 0; rc == 0 &&
	     tpl_sample(&s, k, big, labels, sizeof(labels)); k++)
		rc = tpl_check_one(t, &s, &out, &map, err, errlen);
	buf_free(&out);
	free(map.off);
	free(map.node);
	free(big);
	return rc;
}

int template_check_text(const char *text, size_t len, const char *name,
			int line0, char *err, size_t errlen)
{
	struct template *t = template_compile(text, len, name, line0, err,
					      errlen);
	int rc;

	if (t == NULL)
		return -1;
	rc = template_check(t, err, errlen);
	template_free(t);
	return rc;
}
