/*
 * test_route.c - unit tests for alerts/route.c (label routes, reasons,
 * destinations, per-route templates), the configuration keys behind them
 * in bot/config.c (labels, template, template_file, telegram.proxy) with
 * their FILE:LINE errors, and bot/proxy.c (credentials never displayed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/tz.c"
#include "bot/config.c"
#include "bot/util.c"
#include "bot/proxy.c"
#include "alerts/severity.c"
#include "alerts/template.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/alert.c"
#include "alerts/route.c"
#include "alerts/tgvalidate.c"
#include "bot/url.c"
#include "bot/utf8.c"

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n"; /* see test_config.c */
}

#define BASE "telegram = { token = \"1:a\"; chats = [ -100 ]; };\n"

#define assert_contains(hay, needle) do { \
	if (strstr((hay), (needle)) == NULL) \
		fail_msg("\"%s\" not found in:\n%s", (needle), (hay)); \
} while (0)

static struct config cfg;
static char err[8192];

static int load(const char *text)
{
	return config_load_string(&cfg, text, "t.conf", NULL, err, sizeof(err),
				  NULL, 0);
}

static void load_ok(const char *text)
{
	if (load(text) != 0)
		fail_msg("load failed:\n%s", err);
}

static void load_fails(const char *text, const char *want)
{
	if (load(text) == 0)
		fail_msg("loaded; expected \"%s\"", want);
	assert_contains(err, want);
}

static void parse(struct alert *a, const char *json)
{
	char e[256];

	if (alert_parse(json, strlen(json), a, e, sizeof(e)) != 0)
		fail_msg("alert_parse: %s", e);
}

static int matches(const char *json, size_t route, char *why, size_t len)
{
	struct alert a;
	int r;

	parse(&a, json);
	r = route_match(&cfg.routes[route], &a, why, len);
	alert_free(&a);
	return r;
}

static void test_labels_match(void **state)
{
	char why[512];

	(void)state;
	load_ok(BASE "routes = ( { labels = { env = \"prod*\"; team = \"db\"; };"
		" chats = [ -200 ]; },\n"
		"{ labels = { env = \"!prod*\"; }; chats = [ -300 ]; } );");
	assert_int_equal(cfg.routes[0].nlabels, 2);
	assert_string_equal(cfg.routes[0].labels[0].name, "env");
	assert_string_equal(cfg.routes[1].labels[0].glob, "prod*");
	assert_true(cfg.routes[1].labels[0].negate);

	assert_true(matches("{\"text\":\"x\",\"labels\":{\"env\":\"prod-eu\","
			    "\"team\":\"db\"}}", 0, why, sizeof(why)));
	assert_contains(why, "label env=\"prod-eu\" matches \"prod*\"");
	/* all must match */
	assert_false(matches("{\"text\":\"x\",\"labels\":{\"env\":\"prod\","
			     "\"team\":\"web\"}}", 0, why, sizeof(why)));
	assert_contains(why, "label team=\"web\" does not match \"db\"");
	/* absent label: only a negated glob matches */
	assert_false(matches("{\"text\":\"x\"}", 0, why, sizeof(why)));
	assert_contains(why, "label env is absent");
	assert_true(matches("{\"text\":\"x\"}", 1, why, sizeof(why)));
	assert_false(matches("{\"text\":\"x\",\"labels\":{\"env\":\"prod\"}}",
			     1, why, sizeof(why)));
	assert_contains(why, "matches the excluded \"prod*\"");
	assert_true(matches("{\"text\":\"x\",\"labels\":{\"env\":\"dev\"}}", 1,
			    NULL, 0));
}

static void test_source_severity_reasons(void **state)
{
	char why[512];

	(void)state;
	load_ok(BASE "routes = ( { source = \"db*\"; min_severity = \"error\";"
		" chats = [ -200 ]; } );");
	assert_false(matches("{\"text\":\"x\",\"source\":\"db1\","
			     "\"severity\":\"warning\"}", 0, why, sizeof(why)));
	assert_string_equal(why, "severity warning is below error");
	assert_false(matches("{\"text\":\"x\",\"source\":\"web1\","
			     "\"severity\":\"critical\"}", 0, why, sizeof(why)));
	assert_contains(why, "source \"web1\" does not match \"db*\"");
	assert_true(matches("{\"text\":\"x\",\"source\":\"db1\","
			    "\"severity\":\"critical\"}", 0, why, sizeof(why)));
	assert_contains(why, "severity critical >= error");
}

static void test_dests(void **state)
{
	struct dest d[8];
	struct alert a;
	size_t n;

	(void)state;
	load_ok(BASE "routes = ( { labels = { team = \"db\"; }; chats = [ -200,"
		" -300 ]; thread_id = 7; },\n"
		"{ source = \"*\"; chats = [ -300, -400 ]; } );");
	parse(&a, "{\"text\":\"x\",\"source\":\"s\",\"labels\":{\"team\":\"db\"}}");
	n = route_dests(&cfg, &a, d, 8);
	assert_int_equal(n, 3);
	assert_true(d[0].chat_id == -200 && d[0].thread_id == 7);
	assert_true(d[1].chat_id == -300 && d[1].thread_id == 7);
	assert_true(d[2].chat_id == -400 && d[2].thread_id == 0);
	assert_int_equal(route_dests(&cfg, &a, d, 2), 2); /* bounded */
	alert_free(&a);
	/* nothing matches: the default chats */
	load_ok(BASE "routes = ( { labels = { team = \"db\"; }; chats = [ -200 ];"
		" } );");
	parse(&a, "{\"text\":\"x\"}");
	n = route_dests(&cfg, &a, d, 8);
	assert_int_equal(n, 1);
	assert_true(d[0].chat_id == -100 && d[0].thread_id == 0);
	alert_free(&a);
}

static void test_label_config_errors(void **state)
{
	(void)state;
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env = \"prod[\"; }; } );",
		   "t.conf:3: routes[0].labels.env: unclosed [ in glob");
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env = \"[[:nope:]]\"; }; } );",
		   "t.conf:3: routes[0].labels.env: unknown class [:nope:]");
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env = \"x\\\\\"; }; } );", "lone backslash");
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env-x = \"a\"; }; } );",
		   "t.conf:3: routes[0].labels.env-x: invalid label name");
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env = \"!\"; }; } );", "empty glob");
	load_fails(BASE "routes = ( { chats = [ -2 ];\n"
		   "labels = { env = 5; }; } );", "expected a string");
	load_fails(BASE "routes = ( { chats = [ -2 ]; labels = [ 1 ]; } );",
		   "routes[0].labels: expected a group");
	load_ok(BASE "routes = ( { chats = [ -2 ]; labels = { a = \"[]x]\";"
		" b = \"[!a-z]*\"; c = \"[[:digit:]]\"; d = \"\\\\[\"; }; } );");
	assert_int_equal(cfg.routes[0].nlabels, 4);
}

static void test_template_config(void **state)
{
	FILE *f;
	char path[] = "/tmp/opsbot-tpl-XXXXXX", text[512];
	int fd;
	struct alert a;

	(void)state;
	load_ok(BASE "delivery = { template = \"G {{icon}} {{text}}\"; };\n"
		"routes = ( { chats = [ -2 ]; source = \"db*\";\n"
		"template = \"R <b>{{text}}</b>\"; } );");
	parse(&a, "{\"text\":\"x\",\"source\":\"db1\"}");
	assert_string_equal(route_template(&cfg, &a, -2), "R <b>{{text}}</b>");
	assert_string_equal(route_template(&cfg, &a, -100), "G {{icon}} {{text}}");
	{
		char *parts[4];
		int n = route_format(&cfg, &a, NULL, -2, 0, parts, 4);

		assert_int_equal(n, 1);
		assert_string_equal(parts[0], "R <b>x</b>");
		free(parts[0]);
		n = route_format(&cfg, &a, NULL, -100, 1, parts, 4);
		assert_int_equal(n, 1);
		assert_string_equal(parts[0], "G 🔵 x");
		free(parts[0]);
	}
	alert_free(&a);
	load_ok(BASE);
	assert_null(config_template(&cfg, &cfg.tpl));

	/* an invalid inline template: the config line and the template's */
	load_fails(BASE "delivery = {\ntemplate = \"{{text}}\\n<b>{{title}}\"; };",
		   "t.conf:3: template line 2: not valid Telegram HTML: "
		   "unclosed tag <b>");
	load_fails(BASE "delivery = { template = \"{{text}}\"; };",
		   "t.conf:2: template line 1: not valid Telegram HTML: "
		   "message text is empty (sample: critical firing alert with "
		   "only a title)");
	load_fails(BASE "delivery = { template = \"{{#labels}}\"; };",
		   "t.conf:2: template line 1: unclosed {{#labels}}");
	load_fails(BASE "delivery = { template = \"{{icon}} {{text}}\";\n"
		   "template_file = \"/nonexistent\"; };",
		   "t.conf:3: delivery.template_file: template and "
		   "template_file are both set");
	load_fails(BASE "delivery = { template_file = \"/nonexistent/x\"; };",
		   "t.conf:2: delivery.template_file: cannot read /nonexistent/x");

	/* a template file: errors name the file and its line */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{{icon}} {{text}}\n{{#source}}\n<code>{{source}}</code>\n", f);
	fclose(f);
	snprintf(text, sizeof(text), BASE "routes = ( { chats = [ -2 ]; "
		 "template_file = \"%s\"; } );", path);
	load_fails(text, "unclosed {{#source}}");
	{
		char want[128];

		snprintf(want, sizeof(want), "%s:2: unclosed {{#source}}", path);
		assert_contains(err, want);
	}
	f = fopen(path, "a");
	fputs("{{/source}}\n", f);
	fclose(f);
	load_ok(text);
	assert_non_null(config_template(&cfg, &cfg.routes[0].tpl));
	unlink(path);
}

static void test_proxy_config(void **state)
{
	static const char *const good[] = {
		"http://proxy:3128", "https://p.example", "socks5://h:1080",
		"socks5h://user:pa%40ss@127.0.0.1:1080", "HTTP://h:1",
	};
	static const char *const bad[] = {
		"ftp://h:1", "h:1080", "socks4://h:1", "http://", "http://:1",
	};
	char text[512];

	(void)state;
	for (size_t k = 0; k < ARRAY_LEN(good); k++) {
		snprintf(text, sizeof(text), "telegram = { token = \"1:a\"; chats"
			 " = [ -1 ];\nproxy = \"%s\"; no_proxy = \"x.example\"; };",
			 good[k]);
		load_ok(text);
		assert_string_equal(cfg.proxy, good[k]);
		assert_string_equal(cfg.no_proxy, "x.example");
	}
	for (size_t k = 0; k < ARRAY_LEN(bad); k++) {
		snprintf(text, sizeof(text), "telegram = { token = \"1:a\"; chats"
			 " = [ -1 ];\nproxy = \"%s\"; };", bad[k]);
		load_fails(text, "t.conf:2: telegram.proxy:");
	}
	/* the password is never quoted back */
	load_fails("telegram = { token = \"1:a\"; chats = [ -1 ];\n"
		   "proxy = \"ftp://u:SECRETPW@h:1\"; };", "telegram.proxy");
	assert_null(strstr(err, "SECRETPW"));
	load_ok(BASE);
	assert_string_equal(cfg.proxy, "");
}

static void test_proxy_display(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(proxy_display("socks5h://user:secret@host:1080",
					  out, sizeof(out)),
			    "socks5h://host:1080");
	assert_string_equal(proxy_display("http://u@127.0.0.1", out,
					  sizeof(out)), "http://127.0.0.1");
	assert_string_equal(proxy_display("https://p.example:8443/", out,
					  sizeof(out)), "https://p.example:8443");
	assert_string_equal(proxy_display("", out, sizeof(out)), "");
	assert_string_equal(proxy_display("::nope", out, sizeof(out)),
			    "(invalid proxy URL)");
	proxy_display("socks5://user:secret@h:1", out, 8); /* cut, no crash */
	assert_null(strstr(out, "secret"));
}

/* proxy_apply sets the options only when a proxy is configured. */
static void test_proxy_apply(void **state)
{
	CURL *e = curl_easy_init();

	(void)state;
	assert_non_null(e);
	assert_int_equal(proxy_apply(e, NULL, NULL), 0);
	assert_int_equal(proxy_apply(e, "", "x"), 0);
	assert_int_equal(proxy_apply(e, "http://127.0.0.1:1", NULL), 0);
	assert_int_equal(proxy_apply(e, "socks5h://127.0.0.1:1", "a,b"), 0);
	curl_easy_cleanup(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_match),
		cmocka_unit_test(test_source_severity_reasons),
		cmocka_unit_test(test_dests),
		cmocka_unit_test(test_label_config_errors),
		cmocka_unit_test(test_template_config),
		cmocka_unit_test(test_proxy_config),
		cmocka_unit_test(test_proxy_display),
		cmocka_unit_test(test_proxy_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
