/*
 * test_template.c - unit tests for alerts/template.c and the splitter of
 * rendered HTML in alerts/format.c: every field, sections and the labels
 * loop, escaping of hostile values, compile errors with their lines, the
 * check's refusals (with the template line), splitting at 4096 units,
 * the plain fallback, and the fallback to the built-in layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/template.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/severity.c"
#include "alerts/alert.c"
#include "bot/util.c"
#include "alerts/tgvalidate.c"
#include "bot/url.c"
#include "bot/utf8.c"

#define assert_contains(hay, needle) do { \
	if (strstr((hay), (needle)) == NULL) \
		fail_msg("\"%s\" not found in:\n%s", (needle), (hay)); \
} while (0)

static char err[1024];

static struct template *compile(const char *text)
{
	struct template *t = template_compile(text, strlen(text), "t.tpl", 1,
					      err, sizeof(err));

	if (t == NULL)
		fail_msg("compile failed: %s", err);
	return t;
}

/* Parses a JSON alert line the way the daemon does. */
static void parse(struct alert *a, const char *json)
{
	char e[256];

	if (alert_parse(json, strlen(json), a, e, sizeof(e)) != 0)
		fail_msg("alert_parse: %s", e);
	a->id = 7;
	a->received_at = 1700000000000LL;
}

static char *render(const char *tpl, const char *json,
		    const struct format_extra *x)
{
	struct template *t = compile(tpl);
	struct alert a;
	struct buf out;

	parse(&a, json);
	buf_init(&out, TEMPLATE_MAX_OUTPUT);
	assert_int_equal(template_render(t, &a, x, &out), 0);
	alert_free(&a);
	template_free(t);
	if (out.data == NULL)
		return strdup("");
	return out.data;
}

static void expect(const char *tpl, const char *json, const char *want)
{
	char *got = render(tpl, json, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void test_fields(void **state)
{
	const char *j = "{\"severity\":\"error\",\"source\":\"db1\","
			"\"title\":\"Lag\",\"text\":\"120 s\",\"key\":\"k1\","
			"\"url\":\"https://g.example/d\","
			"\"labels\":{\"env\":\"prod\",\"team\":\"db\"}}";

	(void)state;
	expect("{{icon}} <b>{{SEVERITY}}</b> {{title}}: {{text}}", j,
	       "🟠 <b>ERROR</b> Lag: 120 s");
	expect("{{severity}}|{{source}}|{{key}}|{{url}}|{{status}}|{{id}}", j,
	       "error|db1|k1|https://g.example/d|firing|7");
	expect("{{labels.env}}/{{labels.team}}/{{labels.nope}}.", j,
	       "prod/db/.");
	expect("{{ title }}{{! a comment }}", j, "Lag");
	expect("{{#labels}}{{name}}={{value}};{{/labels}}", j,
	       "env=prod;team=db;");
	expect("{{#url}}<a href=\"{{url}}\">graph</a>{{/url}}", j,
	       "<a href=\"https://g.example/d\">graph</a>");
	expect("{{#labels.env}}E{{/labels.env}}{{^labels.zone}}Z{{/labels.zone}}",
	       j, "EZ");
	expect("{{#resolved}}R{{/resolved}}{{^resolved}}F{{/resolved}}", j,
	       "F");
}

static void test_absent_fields(void **state)
{
	const char *j = "{\"text\":\"only text\"}";

	(void)state;
	expect("[{{title}}][{{source}}][{{repeats}}][{{acked_by}}]", j,
	       "[][][][]");
	expect("{{#title}}T{{/title}}{{^title}}no title{{/title}}", j,
	       "no title");
	expect("{{#labels}}x{{/labels}}{{^labels}}none{{/labels}}", j, "none");
	expect("{{icon}} {{severity}}", j, "🔵 info");
	expect("{{#acked}}A{{/acked}}{{^acked}}-{{/acked}}", j, "-");
}

static void test_resolved_and_extra(void **state)
{
	struct format_extra x = { .acked_by = "@ann", .resolved = 1 };
	char *got;

	(void)state;
	got = render("{{icon}} {{status}} {{#acked}}by {{acked_by}}{{/acked}}",
		     "{\"severity\":\"critical\",\"text\":\"t\"}", &x);
	assert_string_equal(got, "✅ resolved by @ann");
	free(got);
}

/* Values are escaped; the template's own markup is not. */
static void test_escaping(void **state)
{
	(void)state;
	expect("<b>{{title}}</b> <code>{{labels.l}}</code>",
	       "{\"title\":\"<b>x</b> & &amp; \\\"q\\\"\","
	       "\"labels\":{\"l\":\"</code><i>\"}}",
	       "<b>&lt;b&gt;x&lt;/b&gt; &amp; &amp;amp; &quot;q&quot;</b> "
	       "<code>&lt;/code&gt;&lt;i&gt;</code>");
	expect("{{text}}", "{\"text\":\"{{title}} 🔥\"}", "{{title}} 🔥");
}

static void compile_fails(const char *tpl, int line0, const char *want)
{
	struct template *t = template_compile(tpl, strlen(tpl), "t.tpl", line0,
					      err, sizeof(err));

	if (t != NULL)
		fail_msg("compiled, expected \"%s\"", want);
	assert_contains(err, want);
}

static void test_compile_errors(void **state)
{
	(void)state;
	compile_fails("a\nb\n{{#labels}}{{name}}\n", 1,
		      "t.tpl:3: unclosed {{#labels}}");
	compile_fails("x\n{{#title}}\n{{/text}}", 1,
		      "t.tpl:3: {{/text}} closes {{#title}} opened on line 2");
	compile_fails("{{nope}}", 10, "t.tpl:10: unknown field \"nope\"");
	compile_fails("\n{{name}}", 1, "t.tpl:2: {{name}} outside");
	compile_fails("{{/title}}", 1, "without an open section");
	compile_fails("{{title", 1, "t.tpl:1: unclosed {{");
	compile_fails("{{{title}}}", 1, "unescaped values");
	compile_fails("{{resolved}}", 1, "cannot be used as a value");
	compile_fails("{{#labels}}{{#labels}}{{/labels}}{{/labels}}", 1,
		      "{{#labels}} inside {{#labels}}");
	compile_fails("{{#a b}}", 1, "invalid name");
	compile_fails("{{#title}}{{#text}}{{#key}}{{#url}}{{#source}}{{#id}}"
		      "{{#time}}{{#status}}{{#icon}}", 1, "nested deeper");
	compile_fails("bad \xC3\x28", 1, "not valid UTF-8");
	{
		char *big = malloc(TEMPLATE_MAX_TEXT + 2);

		memset(big, 'a', TEMPLATE_MAX_TEXT + 1);
		big[TEMPLATE_MAX_TEXT + 1] = '\0';
		compile_fails(big, 1, "template too large");
		free(big);
	}
}

static void check_fails(const char *tpl, const char *want)
{
	struct template *t = compile(tpl);

	if (template_check(t, err, sizeof(err)) == 0)
		fail_msg("check passed, expected \"%s\"", want);
	assert_contains(err, want);
	template_free(t);
}

static void check_ok(const char *tpl)
{
	struct template *t = compile(tpl);

	if (template_check(t, err, sizeof(err)) != 0)
		fail_msg("check failed: %s", err);
	template_free(t);
}

static void test_check(void **state)
{
	(void)state;
	check_ok("{{icon}} <b>{{SEVERITY}}</b>{{#title}} · <b>{{title}}</b>"
		 "{{/title}}\n{{#text}}{{text}}\n{{/text}}"
		 "{{#source}}<code>{{source}}</code> {{/source}}"
		 "{{#labels}}{{name}}=<code>{{value}}</code> {{/labels}}"
		 "{{#url}}<a href=\"{{url}}\">link</a>{{/url}}\n#{{id}} {{time}}");
	check_ok("<blockquote>{{text}}</blockquote>{{title}}");
	/* unclosed tag: its line */
	check_fails("{{icon}}\n<b>{{title}}\n{{text}}",
		    "t.tpl:2: not valid Telegram HTML: unclosed tag <b>");
	/* a tag Telegram does not know, on line 3 */
	check_fails("{{icon}}\n{{text}}\n<div>x</div>",
		    "t.tpl:3: not valid Telegram HTML: unsupported tag <div>");
	/* a bare & in the template's own text */
	check_fails("{{text}}\nR&D", "t.tpl:2: not valid Telegram HTML: bare &");
	/* href empty when the alert has no url */
	check_fails("{{text}} <a href=\"{{url}}\">x</a>", "t.tpl:1:");
	/* empty for an alert with only a text */
	check_fails("{{title}}", "message text is empty");
	/* markup only in a loop: unbalanced for some label counts */
	check_fails("{{text}}{{#labels}}<b>{{/labels}}", "unclosed tag <b>");
	/* tags in <code> */
	check_fails("{{text}}<code><b>{{source}}</b></code>", "inside <code>");
}

static void test_split_long(void **state)
{
	struct template *t = compile("<b>{{title}}</b>\n<i>{{text}}</i>");
	char *parts[FORMAT_MAX_PARTS], *text = malloc(20001);
	struct alert a;
	int n;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(text, 'y', 20000);
	for (int i = 0; i < 20000; i += 100)
		text[i] = '\n';
	text[20000] = '\0';
	a.title = (char *)"T <1>";
	a.text = text;
	n = format_alert_template(t, &a, NULL, 0, parts, FORMAT_MAX_PARTS);
	assert_true(n >= 5);
	for (int k = 0; k < n; k++) {
		char why[256];

		if (tg_html_validate(parts[k], strlen(parts[k]), why,
				     sizeof(why)) != 0)
			fail_msg("part %d: %s", k, why);
		if (k > 0) {
			assert_true(strncmp(parts[k], "(", 1) == 0);
			assert_contains(parts[k], "<i>"); /* reopened */
		}
		free(parts[k]);
	}
	/* too many parts: the last says how much was cut */
	n = format_alert_template(t, &a, NULL, 0, parts, 2);
	assert_int_equal(n, 2);
	assert_contains(parts[1], "more characters not shown");
	for (int k = 0; k < n; k++)
		free(parts[k]);
	free(text);
	template_free(t);
}

static void test_plain(void **state)
{
	struct template *t = compile("<b>{{title}}</b> &amp; <code>{{text}}"
				     "</code>");
	char *parts[4];
	struct alert a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.title = (char *)"<x> & y";
	a.text = (char *)"t";
	assert_int_equal(format_alert_template(t, &a, NULL, 1, parts, 4), 1);
	assert_string_equal(parts[0], "<x> & y & t");
	free(parts[0]);
	template_free(t);
}

/* What the template cannot render validly falls back to the built-in
 * layout, byte for byte; NULL means the built-in layout. */
static void test_fallback(void **state)
{
	struct template *t = compile("<b>{{title}}");
	char *p1[4], *p2[4];
	struct alert a;
	int n1, n2;

	(void)state;
	parse(&a, "{\"severity\":\"warning\",\"title\":\"x\",\"text\":\"y\"}");
	n1 = format_alert_template(t, &a, NULL, 0, p1, 4);
	n2 = format_alert(&a, NULL, p2, 4);
	assert_int_equal(n1, n2);
	assert_string_equal(p1[0], p2[0]);
	free(p1[0]);
	n1 = format_alert_template(NULL, &a, NULL, 0, p1, 4);
	assert_int_equal(n1, n2);
	assert_string_equal(p1[0], p2[0]);
	free(p1[0]);
	free(p2[0]);
	alert_free(&a);
	template_free(t);
}

static void test_html_parts_rejects(void **state)
{
	static const char *const bad[] = {
		"<b>x", "x</b>", "<b>x</i>", "a & b", "a > b", "<div>x</div>",
		"<b x", "<b><i><u><s><b><i><u><s><b>deep</b></s></u></i></b>"
		"</s></u></i></b>",
	};
	char *parts[2];

	(void)state;
	for (size_t k = 0; k < ARRAY_LEN(bad); k++)
		if (format_html_parts(bad[k], strlen(bad[k]), 0, parts, 2) != -1)
			fail_msg("accepted: %s", bad[k]);
	assert_int_equal(format_html_parts("a &lt; &#128293; b", 18, 1, parts,
					   2), 1);
	assert_string_equal(parts[0], "a < 🔥 b");
	free(parts[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_absent_fields),
		cmocka_unit_test(test_resolved_and_extra),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_split_long),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_html_parts_rejects),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
