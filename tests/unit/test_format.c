/*
 * test_format.c - unit tests for alerts/format.c and alerts/tghtml.c: the
 * HTML primitives, the validator (checked on its own first, then used as
 * the judge of everything the formatter produces), the layout by
 * severity, hostile field values, splitting and storm packs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/tgvalidate.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "alerts/alert.c" /* the real alert_free */
#include "fixture.h"

#define BIG (1u << 24)

/* --- helpers --- */

static void mk(struct alert *a, enum severity sev, const char *title,
	       const char *text)
{
	/* 1700000000000 = 2023-11-14 22:13:20 UTC */
	fx_alert(a, sev, NULL, title, text, 1700000000000LL);
	a->id = 42;
}

static void free_parts(char **parts, int n)
{
	for (int i = 0; i < n; i++)
		free(parts[i]);
}

static char *escaped(const char *s, size_t n, int attr)
{
	struct buf b;

	buf_init(&b, BIG);
	assert_int_equal(html_escape(&b, s, n, attr), 0);
	assert_non_null(b.data);
	return b.data;
}

/* The sanitised form of s as a one-line field shows it. */
static char *sanitized(const char *s, int oneline)
{
	struct buf b;

	buf_init(&b, BIG);
	assert_int_equal(utf8_sanitize(&b, s, strlen(s)), 0);
	for (size_t i = 0; i < b.len; i++)
		if (oneline && (b.data[i] == '\n' || b.data[i] == '\r' ||
				b.data[i] == '\t'))
			b.data[i] = ' ';
	return b.data;
}

/* Independent decoder for the test: strips tags, decodes the four named
 * entities (the only ones the formatter writes). */
static char *visible(const char *h)
{
	struct buf b;
	size_t i = 0, n = strlen(h);
	int q;

	buf_init(&b, BIG);
	assert_int_equal(buf_append(&b, "", 0), 0);
	while (i < n) {
		if (h[i] == '<') {
			for (q = 0, i++; i < n && (q || h[i] != '>'); i++)
				if (h[i] == '"')
					q = !q;
			i++;
			continue;
		}
		if (strncmp(h + i, "&lt;", 4) == 0) {
			buf_append(&b, "<", 1), i += 4;
		} else if (strncmp(h + i, "&gt;", 4) == 0) {
			buf_append(&b, ">", 1), i += 4;
		} else if (strncmp(h + i, "&amp;", 5) == 0) {
			buf_append(&b, "&", 1), i += 5;
		} else if (strncmp(h + i, "&quot;", 6) == 0) {
			buf_append(&b, "\"", 1), i += 6;
		} else {
			buf_append(&b, h + i, 1), i++;
		}
	}
	return b.data;
}

/* Leading and trailing blanks are not shown: drops them in place. */
static char *trim(char *s)
{
	size_t n = strlen(s), k = strspn(s, " \t\r\n");

	while (n > k && strchr(" \t\r\n", s[n - 1]))
		n--;
	memmove(s, s + k, n - k);
	s[n - k] = '\0';
	return s;
}

static void strip_newlines(char *s)
{
	char *w = s;

	for (; *s; s++)
		if (*s != '\n')
			*w++ = *s;
	*w = '\0';
}

static void assert_valid(const char *html)
{
	char err[160];

	if (tg_html_validate(html, strlen(html), err, sizeof(err)) != 0)
		fail_msg("invalid HTML (%s): %.300s", err, html);
}

static int rejects(const char *html, const char *why)
{
	char err[160] = "";
	int r = tg_html_validate(html, strlen(html), err, sizeof(err));

	if (r == 0)
		return 0;
	if (why && strstr(err, why) == NULL)
		fail_msg("error '%s' lacks '%s' for %s", err, why, html);
	return 1;
}

/* Checks every part: valid, within the limit, markers on parts 2..n; then
 * returns the visible text of all parts joined, markers removed. */
static char *check_parts(char **parts, int n)
{
	struct buf all;
	char mark[32], *v;
	size_t skip;

	assert_true(n >= 1);
	buf_init(&all, BIG);
	assert_int_equal(buf_append(&all, "", 0), 0);
	for (int i = 0; i < n; i++) {
		assert_valid(parts[i]);
		assert_true(tg_visible_len(parts[i], strlen(parts[i])) <=
			    TG_MAX_TEXT);
		skip = 0;
		if (i > 0) {
			snprintf(mark, sizeof(mark), "(%d/%d) ", i + 1, n);
			assert_memory_equal(parts[i], mark, strlen(mark));
			skip = strlen(mark);
		}
		v = visible(parts[i] + skip);
		assert_int_equal(buf_append(&all, v, strlen(v)), 0);
		free(v);
	}
	return all.data;
}

/* Formats a, checks all parts and that the visible text shows want
 * (newlines ignored, as cuts at line boundaries drop them). */
static void check_shows(const struct alert *a, const struct format_extra *x,
			const char *want)
{
	char *parts[FORMAT_MAX_PARTS], *all, *w;
	int n = format_alert(a, x, parts, FORMAT_MAX_PARTS);

	assert_true(n >= 1);
	all = check_parts(parts, n);
	w = fx_strdup(want);
	strip_newlines(all);
	strip_newlines(w);
	if (strstr(all, w) == NULL)
		fail_msg("output does not show %.200s", w);
	free(w);
	free(all);
	free_parts(parts, n);
}

static size_t count_char(const char *s, char c)
{
	size_t k = 0;

	for (; *s; s++)
		k += *s == c;
	return k;
}

/* --- html_escape, utf8_sanitize, lengths --- */

static void test_escape_specials(void **state)
{
	char *s = escaped("a&b<c>d\"e'", 10, 0);

	assert_string_equal(s, "a&amp;b&lt;c&gt;d\"e'");
	free(s);
	s = escaped("&&", 2, 0);
	assert_string_equal(s, "&amp;&amp;");
	free(s);
}

static void test_escape_attr(void **state)
{
	char *s = escaped("x\"><a href=y>", 13, 1);

	assert_string_equal(s, "x&quot;&gt;&lt;a href=y&gt;");
	free(s);
}

static void test_escape_invalid_utf8(void **state)
{
	/* stray byte, overlong, surrogate, truncated, above U+10FFFF */
	const char *bad[] = { "\xff", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82",
			      "\xf4\x90\x80\x80" };
	char *s;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		s = escaped(bad[i], strlen(bad[i]), 0);
		assert_non_null(strstr(s, "\xEF\xBF\xBD"));
		assert_int_equal(utf8_scan(s, strlen(s)), strlen(s));
		free(s);
	}
	s = escaped("é€😀", strlen("é€😀"), 0);
	assert_string_equal(s, "é€😀");
	free(s);
}

static void test_escape_nul_dropped(void **state)
{
	char *s = escaped("a\0b\0", 4, 0);

	assert_string_equal(s, "ab");
	assert_int_equal(strlen(s), 2);
	free(s);
}

static void test_escape_respects_buf_max(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(html_escape(&b, "<<<", 3, 0), -1);
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(html_escape(&b, "<", 1, 0), 0);
	assert_string_equal(b.data, "&lt;");
	buf_free(&b);
}

static void test_sanitize_keeps_markup(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(utf8_sanitize(&b, "<b>&\xff\0", 6), 0);
	assert_string_equal(b.data, "<b>&\xEF\xBF\xBD");
	buf_free(&b);
}

static void test_utf16_len(void **state)
{
	assert_int_equal(utf16_len("", 0), 0);
	assert_int_equal(utf16_len("abc", 3), 3);
	assert_int_equal(utf16_len("é", strlen("é")), 1);      /* 2 bytes */
	assert_int_equal(utf16_len("€", strlen("€")), 1);      /* 3 bytes */
	assert_int_equal(utf16_len("😀", strlen("😀")), 2);    /* 4 bytes */
	assert_int_equal(utf16_len("aé€😀", strlen("aé€😀")), 5);
}

static void test_visible_len(void **state)
{
	const char *h = "<b>a&amp;b</b> &lt;&gt;&quot;";

	assert_int_equal(tg_visible_len(h, strlen(h)), 7);
	h = "&#128512;&#x41;&#65;";
	assert_int_equal(tg_visible_len(h, strlen(h)), 4);
	h = "<a href=\"x&amp;y\">😀</a>";
	assert_int_equal(tg_visible_len(h, strlen(h)), 2);
	h = "<pre><code class=\"language-c\">é</code></pre>";
	assert_int_equal(tg_visible_len(h, strlen(h)), 1);
}

/* --- validator --- */

static void test_validate_accepts(void **state)
{
	const char *good[] = {
		"plain text",
		"<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u>"
		"<ins>n</ins><s>s</s><strike>k</strike><del>d</del>",
		"<span class=\"tg-spoiler\">x</span><tg-spoiler>y</tg-spoiler>",
		"<a href=\"https://e.x/?a=1&amp;b=&quot;2&quot;\">l</a>",
		"<code>x &lt; y</code>",
		"<pre>text</pre><pre><code class=\"language-c\">int x;</code></pre>",
		"<blockquote>q</blockquote><blockquote expandable>e</blockquote>",
		"<tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
		"<b>bold <i>both <u>all</u></i></b> &#65; &#x1F600;",
		"<B>upper</B>",
	};

	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		assert_valid(good[i]);
}

static void test_validate_rejects_tags(void **state)
{
	assert_true(rejects("line<br>next", "unsupported tag <br>"));
	assert_true(rejects("<p>para</p>", "unsupported tag <p>"));
	assert_true(rejects("<div>x</div>", "unsupported tag"));
	assert_true(rejects("<script>x</script>", "unsupported tag"));
	assert_true(rejects("<br/>", "unsupported tag"));
}

static void test_validate_error_offset(void **state)
{
	char err[128];

	assert_int_equal(tg_html_validate("hello world<br>", 15, err,
					  sizeof(err)), -1);
	assert_string_equal(err, "unsupported tag <br> at byte 11");
}

static void test_validate_rejects_unclosed(void **state)
{
	assert_true(rejects("<b>bold", "unclosed"));
	assert_true(rejects("<b>x</b></i>", "unexpected closing"));
	assert_true(rejects("<b", "unterminated"));
	assert_true(rejects("<a href=\"x", "unterminated"));
}

static void test_validate_rejects_misnested(void **state)
{
	assert_true(rejects("<b><i>x</b></i>", "does not match"));
	assert_false(rejects("<b><i>x</i></b>", NULL));
}

static void test_validate_rejects_in_code(void **state)
{
	assert_true(rejects("<code><b>x</b></code>", "inside <code>"));
	assert_true(rejects("<pre><b>x</b></pre>", "inside <pre>"));
	assert_true(rejects("<pre><code>a</code><code>b</code></pre>",
			    "inside <pre>"));
}

static void test_validate_rejects_nested_quote(void **state)
{
	assert_true(rejects("<blockquote>a<blockquote>b</blockquote>"
			    "</blockquote>", "nested <blockquote>"));
	assert_true(rejects("<blockquote><b>a<blockquote>b</blockquote></b>"
			    "</blockquote>", "nested"));
}

static void test_validate_rejects_entities(void **state)
{
	assert_true(rejects("a&nbsp;b", "unsupported entity &nbsp;"));
	assert_true(rejects("it&apos;s", "unsupported entity"));
	assert_true(rejects("a & b", "bare &"));
	assert_true(rejects("a &amp b", "bare &"));
	assert_true(rejects("&#xD800;", NULL));
	assert_true(rejects("1 < 2", "bare <"));
	assert_true(rejects("2 > 1", "bare >"));
}

static void test_validate_rejects_attributes(void **state)
{
	assert_true(rejects("<span>x</span>", "without"));
	assert_true(rejects("<span class=\"x\">x</span>", "attribute"));
	assert_true(rejects("<a>x</a>", "without"));
	assert_true(rejects("<a href='x'>x</a>", "double-quoted"));
	assert_true(rejects("<a href=x>x</a>", "double-quoted"));
	assert_true(rejects("<b class=\"x\">x</b>", "attribute"));
	assert_true(rejects("<code class=\"c\">x</code>", "attribute"));
	assert_true(rejects("<a href=\"a&b\">x</a>", "entity"));
	assert_true(rejects("<tg-emoji emoji-id=\"x1\">x</tg-emoji>", NULL));
}

static void test_validate_rejects_bad_utf8(void **state)
{
	assert_true(rejects("ok \xff", "invalid UTF-8 at byte 3"));
	assert_true(rejects("\xc0\xaf", "invalid UTF-8"));
	assert_true(rejects("<b>\xed\xa0\x80</b>", "invalid UTF-8"));
}

static void test_validate_length(void **state)
{
	char *s = malloc(4 * 4100);
	size_t i;

	assert_true(rejects("", "empty"));
	assert_true(rejects("<b></b>", "empty"));
	memset(s, 'a', 4096);
	s[4096] = '\0';
	assert_false(rejects(s, NULL));
	s[4096] = 'a';
	s[4097] = '\0';
	assert_true(rejects(s, "too long"));
	/* 2048 emoji are 4096 units; one more unit is too many */
	for (i = 0; i < 2048; i++)
		memcpy(s + 4 * i, "😀", 4);
	s[4 * i] = '\0';
	assert_false(rejects(s, NULL));
	strcpy(s + 4 * i, "&amp;");
	assert_true(rejects(s, "too long"));
	free(s);
}

/* --- layout --- */

static void test_layout_every_severity(void **state)
{
	static const char *const words[SEV_COUNT] = {
		"<b>CRITICAL</b>", "<b>ERROR</b>", "<b>WARNING</b>",
		"<b>INFO</b>", "<b>DEBUG</b>"
	};
	struct alert a;
	char *parts[2];

	for (int s = 0; s < SEV_COUNT; s++) {
		mk(&a, (enum severity)s, "Disk full", "92% used");
		assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
		assert_valid(parts[0]);
		assert_ptr_equal(strstr(parts[0], format_marker(a.severity)),
				 parts[0]);
		assert_non_null(strstr(parts[0], words[s]));
		assert_non_null(strstr(parts[0], " · <b>Disk full</b>\n92% used"));
		for (int o = 0; o < SEV_COUNT; o++)
			if (o != s)
				assert_null(strstr(parts[0],
						   format_marker((enum severity)o)));
		free(parts[0]);
		alert_free(&a);
	}
	assert_non_null(format_marker((enum severity)99));
	assert_string_equal(format_marker(SEV_CRITICAL), "🔴");
}

static void test_layout_resolved(void **state)
{
	struct alert a;
	struct format_extra x = { 0 };
	char *parts[2];

	mk(&a, SEV_CRITICAL, "Replication lag", NULL);
	a.status = ALERT_RESOLVED;
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_valid(parts[0]);
	assert_non_null(strstr(parts[0], "✅ <b>RESOLVED</b> (critical) · "
				     "<b>Replication lag</b>"));
	assert_null(strstr(parts[0], "🔴"));
	free(parts[0]);
	a.status = ALERT_FIRING;
	x.resolved = 1;
	assert_int_equal(format_alert(&a, &x, parts, 2), 1);
	assert_ptr_equal(strstr(parts[0], "✅ <b>RESOLVED</b>"), parts[0]);
	free(parts[0]);
	alert_free(&a);
}

static void test_layout_full(void **state)
{
	struct alert a;
	char *parts[2];
	const char *want =
		"🔴 <b>CRITICAL</b> · <b>Replication lag</b>\n"
		"lag 120 s &gt; 30 s\nsecond line\n"
		"<code>db1</code> · key <code>db1/repl-lag</code> · "
		"env=<code>prod</code> dc=<code>fra</code> · "
		"<a href=\"https://grafana.example/d/abc?a=1&amp;b=2\">link</a>\n"
		"#42 · 2023-11-14 22:13:20 UTC";

	mk(&a, SEV_CRITICAL, "Replication lag", "lag 120 s > 30 s\nsecond line\n\n");
	a.source = fx_strdup("db1");
	a.key = fx_strdup("db1/repl-lag");
	a.labels = fx_strdup("{\"env\":\"prod\",\"dc\":\"fra\"}");
	a.url = fx_strdup("https://grafana.example/d/abc?a=1&b=2");
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_string_equal(parts[0], want);
	free(parts[0]);
	alert_free(&a);
}

static void test_layout_footer_extras(void **state)
{
	struct alert a;
	struct format_extra x = { 0 };
	char *parts[2];

	mk(&a, SEV_WARNING, "t", NULL);
	a.repeats = 7;
	x.acked_by = "@jane<x>";
	x.acked_at = 1700000000000LL + 3600 * 1000;
	x.muted = 1;
	assert_int_equal(format_alert(&a, &x, parts, 2), 1);
	assert_valid(parts[0]);
	assert_non_null(strstr(parts[0], " · repeated 7×"));
	assert_non_null(strstr(parts[0], " · ☑️ acked by @jane&lt;x&gt; 23:13"));
	assert_non_null(strstr(parts[0], " · 🔕 muted"));
	free(parts[0]);
	a.repeats = 0;
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_null(strstr(parts[0], "repeated"));
	assert_null(strstr(parts[0], "acked"));
	assert_null(strstr(parts[0], "muted"));
	free(parts[0]);
	alert_free(&a);
}

static void test_layout_headline_from_text(void **state)
{
	struct alert a;
	char *parts[2], long_line[300];

	/* a short one-line text is shown once, as the headline */
	mk(&a, SEV_INFO, NULL, "backup done");
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_non_null(strstr(parts[0], " · <b>backup done</b>\n#42"));
	assert_null(strstr(strstr(parts[0], "backup") + 1, "backup"));
	free(parts[0]);
	alert_free(&a);
	/* a long one is shortened in the headline and shown whole below */
	memset(long_line, 'w', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	mk(&a, SEV_INFO, NULL, long_line);
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_valid(parts[0]);
	assert_non_null(strstr(parts[0], "…</b>"));
	assert_true(strstr(parts[0], "<b>wwww") != NULL);
	assert_non_null(strstr(parts[0], long_line));
	assert_true(strcspn(strstr(parts[0], "<b>w"), "…") <= 3 + 80);
	free(parts[0]);
	alert_free(&a);
	/* title equal to text: not repeated */
	mk(&a, SEV_INFO, "same", "same");
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_null(strstr(parts[0], "</b>\nsame"));
	free(parts[0]);
	alert_free(&a);
}

static void test_layout_url_kinds(void **state)
{
	const char *bad[] = { "javascript:alert(1)", "ftp://x/y",
			      "https://a b/", "https://", "data:text/html,<b>" };
	struct alert a;
	char *parts[2];

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		mk(&a, SEV_ERROR, "t", NULL);
		a.url = fx_strdup(bad[i]);
		assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
		assert_valid(parts[0]);
		assert_null(strstr(parts[0], "<a "));
		assert_non_null(strstr(parts[0], "<code>"));
		free(parts[0]);
		alert_free(&a);
	}
	mk(&a, SEV_ERROR, "t", NULL);
	a.url = fx_strdup("HTTP://x/\"><b>");
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	assert_valid(parts[0]);
	assert_non_null(strstr(parts[0],
			       "<a href=\"HTTP://x/&quot;&gt;&lt;b&gt;\">link</a>"));
	free(parts[0]);
	alert_free(&a);
}

static void test_layout_bad_labels_skipped(void **state)
{
	const char *bad[] = { "{not json", "[1,2]", "\"str\"", "{\"n\":5}" };
	struct alert a;
	char *parts[2];

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		mk(&a, SEV_ERROR, "t", NULL);
		a.labels = fx_strdup(bad[i]);
		assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
		assert_valid(parts[0]);
		assert_null(strstr(parts[0], "="));
		/* no facts: title line, then the footer */
		assert_int_equal(count_char(parts[0], '\n'), 1);
		free(parts[0]);
		alert_free(&a);
	}
}

/* --- hostile inputs --- */

static const char *const hostile[] = {
	"<script>alert(1)</script>", "</b>", "</code></b>", "&amp;", "&",
	"\"><a href=x>", "<br>", "a\xe2\x80\x8f" "RTL\xe2\x80\xae" "mark",
	"emoji 😀👍🏽🇩🇪", "bad \xff\xfe utf8 \xc0\x80", "&nbsp;&#0;&#xD800;",
	"<b><i>unbalanced", "<pre><code>x", "\"'`", "multi\nline\r\ntext",
	"<blockquote><blockquote>", "<a href=\"javascript:x\">y</a>",
	"\t\ttabs", "zero\xe2\x80\x8bwidth", "&lt;already escaped&gt;",
	"]]>-->", "surrogate \xed\xa0\x80 half", "<tg-emoji emoji-id=\"1\">",
};

static void test_hostile_title(void **state)
{
	struct alert a;
	char *want;

	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		mk(&a, SEV_CRITICAL, hostile[i], "body");
		want = sanitized(hostile[i], 1);
		check_shows(&a, NULL, want);
		free(want);
		alert_free(&a);
	}
}

static void test_hostile_text(void **state)
{
	struct alert a;
	char *want;

	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		mk(&a, SEV_WARNING, NULL, hostile[i]);
		want = trim(sanitized(hostile[i], 0));
		check_shows(&a, NULL, want);
		free(want);
		alert_free(&a);
		mk(&a, SEV_WARNING, "t", hostile[i]);
		want = sanitized(hostile[i], 0);
		check_shows(&a, NULL, want);
		free(want);
		alert_free(&a);
	}
}

static void test_hostile_source_key(void **state)
{
	struct alert a;
	struct format_extra x = { 0 };
	char *want;

	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		mk(&a, SEV_INFO, "t", "x");
		a.source = fx_strdup(hostile[i]);
		a.key = fx_strdup(hostile[i]);
		x.acked_by = hostile[i];
		want = sanitized(hostile[i], 1);
		check_shows(&a, &x, want);
		free(want);
		alert_free(&a);
	}
}

static void test_hostile_labels(void **state)
{
	struct alert a;
	cJSON *o;
	char *json, *want;

	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		o = cJSON_CreateObject();
		assert_non_null(cJSON_AddStringToObject(o, hostile[i], hostile[i]));
		json = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		mk(&a, SEV_INFO, "t", "x");
		a.labels = json;
		want = sanitized(hostile[i], 1);
		check_shows(&a, NULL, want);
		free(want);
		alert_free(&a);
	}
}

static void test_hostile_url(void **state)
{
	struct alert a;
	char *parts[2], *want;
	int n;

	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		mk(&a, SEV_INFO, "t", "x");
		a.url = fx_strdup(hostile[i]);
		want = sanitized(hostile[i], 1);
		check_shows(&a, NULL, want);
		free(want);
		alert_free(&a);
		/* the same after https://: linked or shown, always valid */
		mk(&a, SEV_INFO, "t", "x");
		assert_true(asprintf(&a.url, "https://h/%s", hostile[i]) > 0);
		n = format_alert(&a, NULL, parts, 2);
		assert_int_equal(n, 1);
		assert_valid(parts[0]);
		free_parts(parts, n);
		alert_free(&a);
	}
}

static void test_hostile_many_lt(void **state)
{
	struct alert a;
	char *s = malloc(10001);

	memset(s, '<', 10000);
	s[10000] = '\0';
	mk(&a, SEV_CRITICAL, s, s);
	a.source = fx_strdup(s);
	check_shows(&a, NULL, s);
	alert_free(&a);
	free(s);
}

/* Random strings over an alphabet of troublemakers, from a fixed seed. */
static char *random_field(uint32_t *seed, size_t maxlen)
{
	static const char *const bits[] = {
		"<", ">", "&", "\"", "'", "\n", "\t", "a", "Z", " ", "😀", "é",
		"\xff", "\xc3", "\xe2\x82", "&amp;", "<b>", "</b>", "\xe2\x80\xae",
		"https://", "#", "=", "{", "}", ":",
	};
	struct buf b;
	size_t n;

	*seed = *seed * 1103515245u + 12345u;
	n = (*seed >> 8) % maxlen;
	buf_init(&b, BIG);
	assert_int_equal(buf_append(&b, "", 0), 0);
	while (n-- > 0) {
		*seed = *seed * 1103515245u + 12345u;
		const char *p = bits[(*seed >> 8) % ARRAY_LEN(bits)];
		assert_int_equal(buf_append(&b, p, strlen(p)), 0);
	}
	return b.data;
}

static void test_random_fields_always_valid(void **state)
{
	struct alert a;
	char *parts[3], *s;
	uint32_t seed = 1;
	int n;

	for (int i = 0; i < 300; i++) {
		mk(&a, (enum severity)(i % SEV_COUNT), NULL, NULL);
		a.title = i % 3 ? random_field(&seed, 60) : NULL;
		a.text = random_field(&seed, i % 10 ? 200 : 3000);
		a.source = random_field(&seed, 20);
		a.key = random_field(&seed, 20);
		a.url = random_field(&seed, 20);
		a.labels = random_field(&seed, 20);
		a.status = i % 4 == 0 ? ALERT_RESOLVED : ALERT_FIRING;
		n = format_alert(&a, NULL, parts, 3);
		assert_true(n >= 1);
		free(check_parts(parts, n));
		free_parts(parts, n);
		n = format_alert_plain(&a, NULL, parts, 3);
		assert_true(n >= 1);
		for (int k = 0; k < n; k++)
			assert_true(utf16_len(parts[k], strlen(parts[k])) <=
				    TG_MAX_TEXT);
		free_parts(parts, n);
		s = format_resolved_note(&a);
		assert_valid(s);
		free(s);
		alert_free(&a);
	}
}

/* --- splitting --- */

/* A text of n bytes: words, emoji and markup characters, lines optional. */
static char *long_text(size_t n, int lines)
{
	static const char *const words[] = {
		"alpha ", "😀 ", "a&b ", "<x> ", "\"q\" ", "ü ", "€uro ",
	};
	struct buf b;
	size_t k = 0;

	buf_init(&b, BIG);
	while (b.len < n) {
		assert_int_equal(buf_append(&b, words[k % 7],
					    strlen(words[k % 7])), 0);
		if (lines && k % 13 == 12)
			assert_int_equal(buf_append(&b, "\n", 1), 0);
		k++;
	}
	return b.data;
}

static void check_long(const char *text, int want_min_parts)
{
	struct alert a;
	char *parts[FORMAT_MAX_PARTS], *all, *w;
	int n;

	mk(&a, SEV_ERROR, "long", text);
	a.source = fx_strdup("src");
	n = format_alert(&a, NULL, parts, FORMAT_MAX_PARTS);
	assert_true(n >= want_min_parts);
	all = check_parts(parts, n);
	strip_newlines(all);
	w = trim(fx_strdup(text));
	strip_newlines(w);
	assert_non_null(strstr(all, w));
	assert_non_null(strstr(all, "#42 · "));
	free(w);
	free(all);
	free_parts(parts, n);
	alert_free(&a);
}

static void test_split_long_no_newlines(void **state)
{
	char *t = long_text(20000, 0);

	check_long(t, 5);
	free(t);
}

static void test_split_long_with_newlines(void **state)
{
	struct alert a;
	char *t = long_text(20000, 1), *parts[FORMAT_MAX_PARTS];
	int n;

	check_long(t, 5);
	/* with lines, every cut is at a line boundary: each part but the
	 * first starts with a whole line of the text (or the facts) */
	mk(&a, SEV_ERROR, "long", t);
	a.source = fx_strdup("src");
	n = format_alert(&a, NULL, parts, FORMAT_MAX_PARTS);
	assert_true(n >= 5);
	for (int i = 1; i < n; i++) {
		char want[40] = "\n", *v = visible(strchr(parts[i], ' ') + 1);

		memcpy(want + 1, v, 20);
		want[21] = '\0';
		if (strstr(t, want) == NULL && strncmp(v, "src", 3) != 0)
			fail_msg("part %d starts mid-line: %.40s", i + 1, v);
		free(v);
	}
	free_parts(parts, n);
	alert_free(&a);
	free(t);
}

/* Units of the message for a text of 'x' only: base + 1. */
static size_t base_units(void)
{
	struct alert a;
	char *parts[2];
	size_t u;

	mk(&a, SEV_DEBUG, "title", "x");
	assert_int_equal(format_alert(&a, NULL, parts, 2), 1);
	u = tg_visible_len(parts[0], strlen(parts[0])) - 1;
	free(parts[0]);
	alert_free(&a);
	return u;
}

/* Text of 'units' UTF-16 units: emoji, then 'a' if odd, then tail. */
static char *emoji_text(size_t units, const char *tail)
{
	struct buf b;

	buf_init(&b, BIG);
	for (size_t i = 0; i < units / 2; i++)
		assert_int_equal(buf_append(&b, "😀", 4), 0);
	if (units % 2)
		assert_int_equal(buf_append(&b, "a", 1), 0);
	assert_int_equal(buf_append(&b, tail, strlen(tail)), 0);
	return b.data;
}

static void test_split_exactly_4096_emoji(void **state)
{
	size_t base = base_units();
	struct alert a;
	char *t, *parts[4], *all;
	int n;

	/* exactly 4096: one part */
	t = emoji_text(TG_MAX_TEXT - base, "");
	mk(&a, SEV_DEBUG, "title", t);
	n = format_alert(&a, NULL, parts, 4);
	assert_int_equal(n, 1);
	assert_int_equal(tg_visible_len(parts[0], strlen(parts[0])), TG_MAX_TEXT);
	assert_valid(parts[0]);
	free_parts(parts, n);
	alert_free(&a);
	free(t);
	/* 4097, the last unit half of an emoji: two parts, emoji intact */
	t = emoji_text(TG_MAX_TEXT - base - 1, "😀");
	mk(&a, SEV_DEBUG, "title", t);
	n = format_alert(&a, NULL, parts, 4);
	assert_int_equal(n, 2);
	all = check_parts(parts, n);
	strip_newlines(all);
	assert_non_null(strstr(all, t));
	free(all);
	free_parts(parts, n);
	alert_free(&a);
	free(t);
	/* one long line of emoji with an odd start: cut between emoji */
	t = emoji_text(3 * TG_MAX_TEXT + 1, "&<>");
	mk(&a, SEV_DEBUG, NULL, t);
	n = format_alert(&a, NULL, parts, 4);
	assert_int_equal(n, 4);
	all = check_parts(parts, n);
	strip_newlines(all);
	assert_non_null(strstr(all, t));
	free(all);
	free_parts(parts, n);
	alert_free(&a);
	free(t);
}

static void test_split_entities_at_boundary(void **state)
{
	size_t base = base_units();
	struct alert a;
	char *t, *parts[8], *all;
	int n;

	/* '&', '<', '"' and '>' straddle the 4096th unit in turn */
	for (size_t off = 0; off < 6; off++) {
		struct buf b;

		buf_init(&b, BIG);
		for (size_t i = 0; i + off + 2 < TG_MAX_TEXT - base; i++)
			assert_int_equal(buf_append(&b, "y", 1), 0);
		assert_int_equal(buf_append(&b, "&<&>\"&amp;", 10), 0);
		for (size_t i = 0; i < 5000; i++)
			assert_int_equal(buf_append(&b, i % 2 ? "<" : "&", 1), 0);
		t = b.data;
		mk(&a, SEV_DEBUG, "title", t);
		n = format_alert(&a, NULL, parts, 8);
		assert_true(n >= 3);
		all = check_parts(parts, n);
		strip_newlines(all);
		assert_non_null(strstr(all, t));
		free(all);
		free_parts(parts, n);
		alert_free(&a);
		free(t);
	}
}

static void test_split_tags_reopened(void **state)
{
	struct alert a;
	char *t = malloc(9001), *parts[4];
	int n;

	/* an over-long title is cut inside <b>: closed and reopened */
	memset(t, 'T', 9000);
	t[9000] = '\0';
	mk(&a, SEV_ERROR, t, "x");
	a.title[900] = '\n'; /* line breaks in a title stay on its line */
	n = format_alert(&a, NULL, parts, 4);
	assert_int_equal(n, 3);
	check_shows(&a, NULL, "TTT");
	for (int i = 0; i < n; i++) {
		assert_valid(parts[i]);
		assert_non_null(strstr(parts[i], "<b>TTT"));
	}
	assert_true(strncmp(parts[1], "(2/3) <b>T", 10) == 0);
	free_parts(parts, n);
	alert_free(&a);
	free(t);
}

static void test_split_truncates_past_max(void **state)
{
	struct alert a;
	char *t = malloc(100001), *parts[2], *note;
	size_t shown = 0, more;
	int n;

	memset(t, 'Z', 100000);
	t[100000] = '\0';
	mk(&a, SEV_ERROR, "t", t);
	n = format_alert(&a, NULL, parts, 2);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_valid(parts[i]);
		shown += count_char(parts[i], 'Z');
	}
	note = strstr(parts[1], "… ");
	assert_non_null(note);
	assert_non_null(strstr(note, " more characters not shown"));
	more = strtoul(note + strlen("… "), NULL, 10);
	assert_int_equal(shown + more, 100000);
	assert_non_null(strstr(note, " more characters not shown\n#42 · 2023"));
	assert_true(shown > 2 * 4000);
	free_parts(parts, n);
	/* one part allowed: still valid, still noted */
	n = format_alert(&a, NULL, parts, 1);
	assert_int_equal(n, 1);
	assert_valid(parts[0]);
	assert_non_null(strstr(parts[0], "more characters not shown"));
	free_parts(parts, n);
	alert_free(&a);
	free(t);
}

static void test_bad_args(void **state)
{
	struct alert a;
	char *parts[1];

	mk(&a, SEV_ERROR, "t", NULL);
	assert_int_equal(format_alert(&a, NULL, parts, 0), -1);
	assert_int_equal(format_alert(NULL, NULL, parts, 1), -1);
	assert_int_equal(format_alert_plain(&a, NULL, NULL, 1), -1);
	alert_free(&a);
}

/* --- plain fallback --- */

static void test_plain_no_markup(void **state)
{
	struct alert a;
	char *parts[2];

	mk(&a, SEV_CRITICAL, "<b>x</b> & y", "a < b\xff");
	a.source = fx_strdup("db&1");
	a.url = fx_strdup("https://h/?a=1&b=2");
	assert_int_equal(format_alert_plain(&a, NULL, parts, 2), 1);
	assert_ptr_equal(strstr(parts[0], "🔴 CRITICAL · <b>x</b> & y\n"),
			 parts[0]);
	assert_non_null(strstr(parts[0], "a < b\xEF\xBF\xBD"));
	assert_non_null(strstr(parts[0], "db&1 · https://h/?a=1&b=2\n#42"));
	assert_null(strstr(parts[0], "&amp;"));
	assert_null(strstr(parts[0], "<code>"));
	assert_int_equal(utf8_scan(parts[0], strlen(parts[0])),
			 strlen(parts[0]));
	free(parts[0]);
	alert_free(&a);
}

static void test_plain_split_lengths(void **state)
{
	struct alert a;
	char *t = long_text(30000, 0), *parts[FORMAT_MAX_PARTS], mark[32];
	struct buf all;
	size_t u, skip, tu = utf16_len(t, strlen(t));
	int n;

	mk(&a, SEV_INFO, "t", t);
	n = format_alert_plain(&a, NULL, parts, FORMAT_MAX_PARTS);
	assert_true(n >= 1 && (size_t)n >= (tu + TG_MAX_TEXT - 1) / TG_MAX_TEXT);
	buf_init(&all, BIG);
	for (int i = 0; i < n; i++) {
		u = utf16_len(parts[i], strlen(parts[i]));
		assert_true(u >= 1 && u <= TG_MAX_TEXT);
		assert_int_equal(utf8_scan(parts[i], strlen(parts[i])),
				 strlen(parts[i]));
		skip = 0;
		if (i > 0) {
			snprintf(mark, sizeof(mark), "(%d/%d) ", i + 1, n);
			assert_memory_equal(parts[i], mark, strlen(mark));
			skip = strlen(mark);
		}
		assert_int_equal(buf_append(&all, parts[i] + skip,
					    strlen(parts[i] + skip)), 0);
	}
	/* unescaped: the raw text is there, markup characters and all */
	assert_non_null(strstr(all.data, trim(t)));
	buf_free(&all);
	free_parts(parts, n);
	alert_free(&a);
	free(t);
}

/* --- packs and notes --- */

static struct alert *mk_many(size_t n, size_t tlen, size_t xlen, int runs)
{
	struct alert *v = calloc(n, sizeof(*v));
	char title[256], text[256], src[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(title, sizeof(title), "Disk usage high on /var/lib/%05zu "
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		title[tlen] = '\0';
		snprintf(text, sizeof(text), "used 93%% of 500 GiB; growing 1 GiB/h; "
			 "next check in 5 minutes, then again %zu", i);
		memset(text + strlen(text), 'y', sizeof(text) - strlen(text) - 1);
		text[sizeof(text) - 1] = '\0';
		text[xlen] = '\0';
		snprintf(src, sizeof(src), "web-%02zu", runs ? i / 50 : i % 20);
		mk(&v[i], (enum severity)(i % SEV_COUNT), title, text);
		v[i].id = (int64_t)i + 1;
		v[i].source = fx_strdup(src);
	}
	return v;
}

static void free_many(struct alert *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		alert_free(&v[i]);
	free(v);
}

static size_t pack_all(struct alert *v, size_t n, size_t *max_units)
{
	const struct alert **p = calloc(n, sizeof(*p));
	size_t done = 0, k, msgs = 0, u;
	char *out, *prev, idbuf[32];

	for (size_t i = 0; i < n; i++)
		p[i] = &v[i];
	*max_units = 0;
	while (done < n) {
		k = format_pack(p + done, n - done, &out);
		assert_true(k >= 1);
		assert_non_null(out);
		assert_valid(out);
		u = tg_visible_len(out, strlen(out));
		if (u > *max_units)
			*max_units = u;
		/* the header counts them; ids appear in the given order */
		snprintf(idbuf, sizeof(idbuf), "📦 <b>%zu alert", k);
		assert_ptr_equal(strstr(out, idbuf), out);
		prev = out;
		for (size_t i = 0; i < k; i++) {
			/* " #ID" then a newline (two-line blocks), " · "
			 * (one-line storm blocks) or the end */
			snprintf(idbuf, sizeof(idbuf), " #%lld",
				 (long long)p[done + i]->id);
			do {
				prev = strstr(prev + 1, idbuf);
				assert_non_null(prev);
			} while (strchr("\n \0", prev[strlen(idbuf)]) == NULL);
		}
		free(out);
		done += k;
		msgs++;
	}
	free(p);
	return msgs;
}

static void test_pack_small_all_fit(void **state)
{
	struct alert *v = mk_many(10, 20, 30, 0);
	const struct alert *p[10];
	char *out;

	for (int i = 0; i < 10; i++)
		p[i] = &v[i];
	v[3].status = ALERT_RESOLVED;
	assert_int_equal(format_pack(p, 10, &out), 10);
	assert_valid(out);
	assert_ptr_equal(strstr(out, "📦 <b>10 alerts</b>\n"), out);
	assert_non_null(strstr(out, "✅ <b>"));
	assert_non_null(strstr(out, "\n🔴 <b>Disk usage high on /</b>"));
	assert_non_null(strstr(out, "<code>web-01</code> #2\nused 93%"));
	free(out);
	assert_int_equal(format_pack(p, 0, &out), 0);
	assert_null(out);
	free_many(v, 10);
}

static void test_pack_respects_limit(void **state)
{
	struct alert *v = mk_many(300, 200, 200, 0);
	size_t max_units, msgs = pack_all(v, 300, &max_units);

	assert_true(msgs > 1);
	assert_true(max_units <= TG_MAX_TEXT);
	assert_true(max_units > TG_MAX_TEXT - 400);
	free_many(v, 300);
}

static void test_pack_first_always_fits(void **state)
{
	struct alert a;
	const struct alert *p[1] = { &a };
	char *big = malloc(20001), *out;

	memset(big, 'W', 20000);
	big[20000] = '\0';
	mk(&a, SEV_CRITICAL, big, big);
	a.source = fx_strdup(big);
	assert_int_equal(format_pack(p, 1, &out), 1);
	assert_valid(out);
	assert_ptr_equal(strstr(out, "📦 <b>1 alert</b>\n🔴 <b>WWW"), out);
	assert_non_null(strstr(out, "…"));
	free(out);
	alert_free(&a);
	free(big);
}

static void test_pack_storm_1000(void **state)
{
	struct alert *v = mk_many(1000, 40, 60, 1);
	size_t max_units, msgs = pack_all(v, 1000, &max_units);

	print_message("1000 alerts (runs of one source) -> %zu messages\n",
		      msgs);
	/* a group takes 17 alert messages a minute (3 kept for replies):
	 * a 1,000-alert storm must fit them to be visible within ~20 s */
	assert_true(msgs <= 17);
	free_many(v, 1000);
	v = mk_many(1000, 40, 60, 0);
	msgs = pack_all(v, 1000, &max_units);
	print_message("1000 alerts (mixed sources) -> %zu messages\n", msgs);
	assert_true(msgs <= 17);
	free_many(v, 1000);
}

static void test_resolved_note(void **state)
{
	struct alert a;
	char *s;

	mk(&a, SEV_CRITICAL, "Lag <high>", NULL);
	a.id = 7;
	s = format_resolved_note(&a);
	assert_non_null(s);
	assert_string_equal(s, "✅ Resolved: <b>Lag &lt;high&gt;</b> #7");
	assert_valid(s);
	free(s);
	alert_free(&a);
	mk(&a, SEV_CRITICAL, NULL, "first line\nsecond");
	s = format_resolved_note(&a);
	assert_non_null(strstr(s, "<b>first line</b>"));
	assert_null(strstr(s, "second"));
	assert_valid(s);
	free(s);
	alert_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),
		cmocka_unit_test(test_escape_attr),
		cmocka_unit_test(test_escape_invalid_utf8),
		cmocka_unit_test(test_escape_nul_dropped),
		cmocka_unit_test(test_escape_respects_buf_max),
		cmocka_unit_test(test_sanitize_keeps_markup),
		cmocka_unit_test(test_utf16_len),
		cmocka_unit_test(test_visible_len),
		cmocka_unit_test(test_validate_accepts),
		cmocka_unit_test(test_validate_rejects_tags),
		cmocka_unit_test(test_validate_error_offset),
		cmocka_unit_test(test_validate_rejects_unclosed),
		cmocka_unit_test(test_validate_rejects_misnested),
		cmocka_unit_test(test_validate_rejects_in_code),
		cmocka_unit_test(test_validate_rejects_nested_quote),
		cmocka_unit_test(test_validate_rejects_entities),
		cmocka_unit_test(test_validate_rejects_attributes),
		cmocka_unit_test(test_validate_rejects_bad_utf8),
		cmocka_unit_test(test_validate_length),
		cmocka_unit_test(test_layout_every_severity),
		cmocka_unit_test(test_layout_resolved),
		cmocka_unit_test(test_layout_full),
		cmocka_unit_test(test_layout_footer_extras),
		cmocka_unit_test(test_layout_headline_from_text),
		cmocka_unit_test(test_layout_url_kinds),
		cmocka_unit_test(test_layout_bad_labels_skipped),
		cmocka_unit_test(test_hostile_title),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_hostile_source_key),
		cmocka_unit_test(test_hostile_labels),
		cmocka_unit_test(test_hostile_url),
		cmocka_unit_test(test_hostile_many_lt),
		cmocka_unit_test(test_random_fields_always_valid),
		cmocka_unit_test(test_split_long_no_newlines),
		cmocka_unit_test(test_split_long_with_newlines),
		cmocka_unit_test(test_split_exactly_4096_emoji),
		cmocka_unit_test(test_split_entities_at_boundary),
		cmocka_unit_test(test_split_tags_reopened),
		cmocka_unit_test(test_split_truncates_past_max),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_plain_no_markup),
		cmocka_unit_test(test_plain_split_lengths),
		cmocka_unit_test(test_pack_small_all_fit),
		cmocka_unit_test(test_pack_respects_limit),
		cmocka_unit_test(test_pack_first_always_fits),
		cmocka_unit_test(test_pack_storm_1000),
		cmocka_unit_test(test_resolved_note),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
