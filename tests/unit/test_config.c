/*
 * test_config.c - unit tests for bot/config.c: defaults, every key, every
 * kind of invalid input with its exact line, token precedence and secrecy,
 * 64-bit chat ids, the shipped example, and garbage that must not crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/tz.c"
#include "bot/config.c"
#include "bot/util.c"
#include "bot/url.c"
#include "alerts/severity.c"
#include "alerts/template.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/alert.c"
#include "alerts/tgvalidate.c"
#include "bot/utf8.c"

/* libconfig 1.5's parser drops a string token without freeing it when a
 * syntax error follows it (e.g. a file that is just "x"): its bug, not
 * ours, so LeakSanitizer is told to ignore leaks from inside libconfig. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

#define NAME "t.conf"
/* A minimal valid file on one line, so that what follows starts on line 2. */
#define BASE "telegram = { token = \"1:a\"; chats = [ 1 ]; };\n"

static struct config cfg;
static char err[8192], warn[4096];

#define assert_contains(hay, needle) do { \
	if (strstr((hay), (needle)) == NULL) \
		fail_msg("\"%s\" not found in:\n%s", (needle), (hay)); \
} while (0)

static int load_env(const char *text, const char *env)
{
	memset(&cfg, 0xa5, sizeof(cfg)); /* defaults must overwrite junk */
	return config_load_string(&cfg, text, NAME, env, err, sizeof(err),
				  warn, sizeof(warn));
}

static int load(const char *text)
{
	return load_env(text, NULL);
}

static size_t count_lines(const char *s)
{
	size_t n = *s != '\0';

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Everything from poll_timeout to the end of the struct is equal. */
static void assert_same_from_poll_timeout(const struct config *a,
					  const struct config *b)
{
	size_t off = offsetof(struct config, poll_timeout);

	assert_memory_equal((const char *)a + off, (const char *)b + off,
			    sizeof(*a) - off);
}

/* Loads text that must fail with exactly one problem, equal to want. */
static void expect_one(const char *text, const char *want)
{
	assert_int_equal(load(text), -1);
	assert_string_equal(err, want);
}

static void test_defaults(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.api_url, "https://api.telegram.org");
	assert_int_equal(cfg.nchats, 0);
	assert_int_equal(cfg.poll_timeout, 50);
	assert_int_equal(cfg.connect_timeout, 10);
	assert_int_equal(cfg.request_timeout, 30);
	assert_string_equal(cfg.socket_path, "/run/opsbot/alerts.sock");
	assert_int_equal(cfg.socket_mode, 0660);
	assert_string_equal(cfg.socket_group, "");
	assert_int_equal(cfg.nallowed_uids, 0);
	assert_int_equal(cfg.max_clients, 256);
	assert_int_equal(cfg.max_line, 65536);
	assert_int_equal(cfg.max_output, 1048576);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_string_equal(cfg.store_path, "/var/lib/opsbot/opsbot.db");
	assert_int_equal(cfg.retention_days, 30);
	assert_true(cfg.global_per_second == 30);
	assert_true(cfg.chat_per_second == 1);
	assert_int_equal(cfg.group_per_minute, 20);
	assert_int_equal(cfg.retry_after_cap, 3600);
	assert_true(cfg.retry_base == 1);
	assert_true(cfg.retry_cap == 300);
	assert_int_equal(cfg.max_age, 86400);
	assert_int_equal(cfg.breaker_threshold, 5);
	assert_int_equal(cfg.notify_severity, SEV_ERROR);
	assert_int_equal(cfg.link_preview, 0);
	assert_int_equal(cfg.repeat_window, 600);
	assert_int_equal(cfg.pack, 1);
	assert_int_equal(cfg.buttons, 1);
	assert_int_equal(cfg.nroutes, 0);
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
}

/* The smallest valid file leaves everything else at its default. */
static void test_minimal_gets_defaults(void **state)
{
	struct config def;

	(void)state;
	assert_int_equal(load(BASE), 0);
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	config_defaults(&def);
	assert_string_equal(cfg.path, NAME);
	assert_int_equal(cfg.nchats, 1);
	assert_int_equal(cfg.chats[0], 1);
	assert_string_equal(cfg.token, "1:a");
	assert_string_equal(cfg.token_source, "token");
	/* Compare the tail of the struct, from poll_timeout on. */
	def.nchats = cfg.nchats;
	memcpy(def.chats, cfg.chats, sizeof(def.chats));
	assert_same_from_poll_timeout(&cfg, &def);
}

static const char full[] =
	"telegram = {\n"
	"  api_url = \"http://127.0.0.1:8081///\";\n"
	"  token = \"123456:AAbb_cc-DD\";\n"
	"  chats = [ -1001234567890, 42 ];\n"
	"  admins = [ 11111111, 5000000000 ];\n"
	"  viewers = [ 7 ];\n"
	"  poll_timeout = 0;\n"
	"  connect_timeout = 300;\n"
	"  request_timeout = 600;\n"
	"};\n"
	"socket = {\n"
	"  path = \"/tmp/x.sock\";\n"
	"  mode = \"0600\";\n"
	"  group = \"ops\";\n"
	"  allowed_uids = [ 0, 1000 ];\n"
	"  max_clients = 65536;\n"
	"  max_line = 1024;\n"
	"  max_output = 1073741824;\n"
	"  idle_timeout = 86400;\n"
	"};\n"
	"store = { path = \"/tmp/o.db\"; retention_days = 3650; };\n"
	"limits = {\n"
	"  global_per_second = 0.5;\n"
	"  chat_per_second = 100;\n"
	"  group_per_minute = 1;\n"
	"  retry_after_cap = 86400;\n"
	"};\n"
	"retry = { base = 0.25; cap = 86400; max_age = 60;\n"
	"  breaker_threshold = 1000; };\n"
	"delivery = {\n"
	"  notify_severity = \"Warning\";\n"
	"  link_preview = true;\n"
	"  repeat_window = 0;\n"
	"  pack = false;\n"
	"  buttons = false;\n"
	"};\n"
	"routes = (\n"
	"  { source = \"db*\"; min_severity = \"error\"; chats = [ -100123 ];\n"
	"    thread_id = 42; },\n"
	"  { chats = [ -1009999999999L, 5 ]; }\n"
	");\n"
	"log = { level = \"debug\"; };\n";

static void test_full_valid(void **state)
{
	(void)state;
	assert_int_equal(load(full), 0);
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	assert_string_equal(cfg.api_url, "http://127.0.0.1:8081");
	assert_string_equal(cfg.token, "123456:AAbb_cc-DD");
	assert_string_equal(cfg.token_source, "token");
	assert_int_equal(cfg.nchats, 2);
	assert_true(cfg.chats[0] == INT64_C(-1001234567890));
	assert_int_equal(cfg.chats[1], 42);
	assert_int_equal(cfg.nadmins, 2);
	assert_true(cfg.admins[1] == INT64_C(5000000000));
	assert_int_equal(cfg.nviewers, 1);
	assert_int_equal(cfg.viewers[0], 7);
	assert_int_equal(cfg.poll_timeout, 0);
	assert_int_equal(cfg.connect_timeout, 300);
	assert_int_equal(cfg.request_timeout, 600);
	assert_string_equal(cfg.socket_path, "/tmp/x.sock");
	assert_int_equal(cfg.socket_mode, 0600);
	assert_string_equal(cfg.socket_group, "ops");
	assert_int_equal(cfg.nallowed_uids, 2);
	assert_int_equal(cfg.allowed_uids[0], 0);
	assert_int_equal(cfg.allowed_uids[1], 1000);
	assert_int_equal(cfg.max_clients, 65536);
	assert_int_equal(cfg.max_line, 1024);
	assert_int_equal(cfg.max_output, 1073741824);
	assert_int_equal(cfg.idle_timeout, 86400);
	assert_string_equal(cfg.store_path, "/tmp/o.db");
	assert_int_equal(cfg.retention_days, 3650);
	assert_true(cfg.global_per_second == 0.5);
	assert_true(cfg.chat_per_second == 100);
	assert_int_equal(cfg.group_per_minute, 1);
	assert_int_equal(cfg.retry_after_cap, 86400);
	assert_true(cfg.retry_base == 0.25);
	assert_true(cfg.retry_cap == 86400);
	assert_int_equal(cfg.max_age, 60);
	assert_int_equal(cfg.breaker_threshold, 1000);
	assert_int_equal(cfg.notify_severity, SEV_WARNING);
	assert_int_equal(cfg.link_preview, 1);
	assert_int_equal(cfg.repeat_window, 0);
	assert_int_equal(cfg.pack, 0);
	assert_int_equal(cfg.buttons, 0);
	assert_int_equal(cfg.nroutes, 2);
	assert_string_equal(cfg.routes[0].source, "db*");
	assert_int_equal(cfg.routes[0].min_severity, SEV_ERROR);
	assert_int_equal(cfg.routes[0].nchats, 1);
	assert_int_equal(cfg.routes[0].chats[0], -100123);
	assert_int_equal(cfg.routes[0].thread_id, 42);
	assert_string_equal(cfg.routes[1].source, "");
	assert_int_equal(cfg.routes[1].min_severity, SEV_DEBUG);
	assert_int_equal(cfg.routes[1].nchats, 2);
	assert_true(cfg.routes[1].chats[0] == INT64_C(-1009999999999));
	assert_int_equal(cfg.routes[1].chats[1], 5);
	assert_int_equal(cfg.routes[1].thread_id, 0);
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
}

static void test_membership(void **state)
{
	(void)state;
	assert_int_equal(load(full), 0);
	assert_true(config_is_admin(&cfg, 11111111));
	assert_true(config_is_admin(&cfg, INT64_C(5000000000)));
	assert_false(config_is_admin(&cfg, 7));
	assert_true(config_is_viewer(&cfg, 7));
	assert_true(config_is_viewer(&cfg, 11111111)); /* admins view too */
	assert_false(config_is_viewer(&cfg, 8));
	assert_true(config_is_chat(&cfg, INT64_C(-1001234567890)));
	assert_true(config_is_chat(&cfg, -100123));      /* routed only */
	assert_true(config_is_chat(&cfg, INT64_C(-1009999999999)));
	assert_false(config_is_chat(&cfg, -100124));
	assert_false(config_is_chat(&cfg, 0));
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_one("telegram = { token = \"1:a\";\n chat = [ 1 ];\n"
		   " chats = [ 1 ]; };\n",
		   NAME ":2: unknown key \"telegram.chat\" (did you mean "
		   "\"chats\"?)");
	expect_one(BASE "\nsockt = { };\n",
		   NAME ":3: unknown key \"sockt\" (did you mean \"socket\"?)");
	expect_one(BASE "store = { zzzzzz = 1; };\n",
		   NAME ":2: unknown key \"store.zzzzzz\"");
	expect_one(BASE "routes = ( { chats = [ 2 ]; },\n"
		   "  { sorce = \"x\"; chats = [ 3 ]; } );\n",
		   NAME ":3: unknown key \"routes[1].sorce\" (did you mean "
		   "\"source\"?)");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_one(BASE "telegram2 = 1;\n",
		   NAME ":2: unknown key \"telegram2\" (did you mean "
		   "\"telegram\"?)");
	expect_one(BASE "socket = 5;\n",
		   NAME ":2: socket: expected a group like { ... }, got an "
		   "integer");
	expect_one(BASE "socket = {\n max_clients = \"50\"; };\n",
		   NAME ":3: socket.max_clients: expected an integer, got a "
		   "string");
	expect_one(BASE "delivery = { pack = 1; };\n",
		   NAME ":2: delivery.pack: expected true or false, got an "
		   "integer");
	expect_one(BASE "limits = { chat_per_second = \"1\"; };\n",
		   NAME ":2: limits.chat_per_second: expected a number, got a "
		   "string");
	expect_one(BASE "store = { path = 3.5; };\n",
		   NAME ":2: store.path: expected a string, got a float");
	expect_one("telegram = { token = \"1:a\";\n chats = 5; };\n",
		   NAME ":2: telegram.chats: expected an array of integers "
		   "like [ 123, 456 ], got an integer");
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " admins = ( 1,\n \"2\" ); };\n",
		   NAME ":3: telegram.admins[1]: expected an integer, got a "
		   "string");
}

static void test_ranges(void **state)
{
	(void)state;
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " poll_timeout = 601; };\n",
		   NAME ":2: telegram.poll_timeout: 601 is out of range "
		   "(0..600)");
	expect_one(BASE "socket = { idle_timeout = 0; };\n",
		   NAME ":2: socket.idle_timeout: 0 is out of range "
		   "(1..86400)");
	expect_one(BASE "socket = { max_line = 1023; };\n",
		   NAME ":2: socket.max_line: 1023 is out of range "
		   "(1024..16777216)");
	expect_one(BASE "socket = { max_output = 1073741825; };\n",
		   NAME ":2: socket.max_output: 1073741825 is out of range "
		   "(4096..1073741824)");
	expect_one(BASE "limits = { global_per_second = 0.05; };\n",
		   NAME ":2: limits.global_per_second: 0.05 is out of range "
		   "(0.1..1000)");
	expect_one(BASE "limits = { chat_per_second = 101; };\n",
		   NAME ":2: limits.chat_per_second: 101 is out of range "
		   "(0.01..100)");
	expect_one(BASE "retry = { max_age = 59; };\n",
		   NAME ":2: retry.max_age: 59 is out of range (60..2592000)");
	expect_one(BASE "store = { retention_days = -1; };\n",
		   NAME ":2: store.retention_days: -1 is out of range "
		   "(1..3650)");
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " admins = [ 5, -7 ]; };\n",
		   NAME ":2: telegram.admins[1]: -7 is not a user id (user ids "
		   "are positive)");
	expect_one(BASE "socket = {\n allowed_uids = [ -1 ]; };\n",
		   NAME ":3: socket.allowed_uids[0]: -1 is not a uid");
	/* At the limits: accepted. */
	assert_int_equal(load(BASE "limits = { global_per_second = 0.1;\n"
			      " chat_per_second = 0.01; };\n"
			      "retry = { base = 3600; cap = 3600; };\n"), 0);
	assert_true(cfg.chat_per_second == 0.01);
	assert_true(cfg.retry_cap == 3600);
}

static void test_retry_cap_below_base(void **state)
{
	(void)state;
	expect_one(BASE "retry = { base = 10;\n cap = 5; };\n",
		   NAME ":3: retry.cap: 5 is less than retry.base (10)");
	/* cap left at its default: blamed on base's line */
	expect_one(BASE "\nretry = { base = 301; };\n",
		   NAME ":3: retry.cap: 300 is less than retry.base (301)");
}

static void test_chats_required(void **state)
{
	(void)state;
	expect_one("telegram = { token = \"1:a\"; };\n",
		   NAME ": telegram.chats: required: at least one chat id "
		   "(groups are negative, supergroups -100...)");
	expect_one("telegram = { token = \"1:a\";\n\n chats = [ ]; };\n",
		   NAME ":3: telegram.chats: must not be empty");
	expect_one("telegram = { token = \"1:a\";\n chats = [ -5,\n 0 ]; };\n",
		   NAME ":3: telegram.chats[1]: 0 is not a chat id");
}

static void test_duplicate_chats(void **state)
{
	(void)state;
	expect_one("telegram = { token = \"1:a\"; chats = [\n"
		   " -1001234567890,\n 12,\n -1001234567890 ]; };\n",
		   NAME ":4: telegram.chats[2]: duplicate chat id "
		   "-1001234567890");
}

static void test_too_many_chats(void **state)
{
	char text[2048];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text),
			     "telegram = { token = \"1:a\";\n chats = [ ");
	for (int i = 1; i <= CONFIG_MAX_CHATS + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%d",
				      i > 1 ? ", " : "", i);
	snprintf(text + n, sizeof(text) - n, " ]; };\n");
	expect_one(text, NAME ":2: telegram.chats: too many entries (65, "
		   "max 64)");
	assert_int_equal(cfg.nchats, CONFIG_MAX_CHATS);
}

static void test_socket_path_length(void **state)
{
	char text[512], path[200];

	(void)state;
	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[107] = '\0'; /* 107 bytes + NUL fills sun_path exactly */
	snprintf(text, sizeof(text), BASE "socket = {\n path = \"%s\"; };\n",
		 path);
	assert_int_equal(load(text), 0);
	assert_string_equal(cfg.socket_path, path);
	path[107] = 'p';
	path[108] = '\0';
	snprintf(text, sizeof(text), BASE "socket = {\n path = \"%s\"; };\n",
		 path);
	expect_one(text, NAME ":3: socket.path: too long (max 107 bytes)");
	expect_one(BASE "socket = { path = \"\"; };\n",
		   NAME ":2: socket.path: must not be empty");
}

static void test_socket_mode(void **state)
{
	static const char *const bad[] = {
		"\"0980\"", "\"abc\"", "\"\"", "01000", "\"07777\"", "800",
		"-1", "\"-1\"",
	};
	char text[256];

	(void)state;
	assert_int_equal(load(BASE "socket = { mode = \"0640\"; };\n"), 0);
	assert_int_equal(cfg.socket_mode, 0640);
	/* libconfig reads 0660 as decimal 660: its digits are taken as octal */
	assert_int_equal(load(BASE "socket = { mode = 0660; };\n"), 0);
	assert_int_equal(cfg.socket_mode, 0660);
	assert_int_equal(load(BASE "socket = { mode = 600; };\n"), 0);
	assert_int_equal(cfg.socket_mode, 0600);
	assert_int_equal(load(BASE "socket = { mode = \"777\"; };\n"), 0);
	assert_int_equal(cfg.socket_mode, 0777);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		snprintf(text, sizeof(text),
			 BASE "\nsocket = { mode = %s; };\n", bad[i]);
		expect_one(text, NAME ":3: socket.mode: expected an octal mode "
			   "from \"0000\" to \"0777\", like \"0660\"");
	}
	expect_one(BASE "socket = { mode = true; };\n",
		   NAME ":2: socket.mode: expected an octal mode like "
		   "\"0660\", got a boolean");
}

static void test_severity_and_level(void **state)
{
	(void)state;
	expect_one(BASE "delivery = {\n notify_severity = \"fatal\"; };\n",
		   NAME ":3: delivery.notify_severity: unknown severity "
		   "\"fatal\" (expected critical, error, warning, info or "
		   "debug)");
	/* control characters are not echoed as such */
	expect_one(BASE "delivery = { notify_severity = \"a\\nb\"; };\n",
		   NAME ":2: delivery.notify_severity: unknown severity "
		   "\"a?b\" (expected critical, error, warning, info or "
		   "debug)");
	expect_one(BASE "log = { level = \"warning\"; };\n",
		   NAME ":2: log.level: unknown level \"warning\" (expected "
		   "error, warn, info or debug)");
	assert_int_equal(load(BASE "log = { level = \"WARN\"; };\n"), 0);
	assert_int_equal(cfg.log_level, LOG_LVL_WARN);
	assert_int_equal(load(BASE "delivery = { notify_severity = "
			      "\"critical\"; };\n"), 0);
	assert_int_equal(cfg.notify_severity, SEV_CRITICAL);
}

static void test_api_url(void **state)
{
	(void)state;
	assert_int_equal(load("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
			      " api_url = \"HTTPS://h/x/\"; };\n"), 0);
	assert_string_equal(cfg.api_url, "HTTPS://h/x");
	/* A URL is never quoted back: it may carry a token. */
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " api_url = \"ftp://h/bot12:SECRETSECRET\"; };\n",
		   NAME ":2: telegram.api_url: expected an http:// or https:// "
		   "URL like \"https://api.telegram.org\"");
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " api_url = \"https://\"; };\n",
		   NAME ":2: telegram.api_url: expected an http:// or https:// "
		   "URL like \"https://api.telegram.org\"");
	expect_one("telegram = { token = \"1:a\"; chats = [ 1 ];\n"
		   " api_url = \"https://a b\"; };\n",
		   NAME ":2: telegram.api_url: URL contains white space or "
		   "control characters");
}

static void test_routes_invalid(void **state)
{
	char text[4096];
	size_t n;

	(void)state;
	expect_one(BASE "routes = (\n { source = \"x\"; } );\n",
		   NAME ":3: routes[0].chats: required (the chats this route "
		   "sends to)");
	expect_one(BASE "routes = ( { chats = [ 1 ]; },\n"
		   " { chats = [\n ]; } );\n",
		   NAME ":3: routes[1].chats: must not be empty");
	expect_one(BASE "routes = ( 5 );\n",
		   NAME ":2: routes[0]: expected a group like { chats = "
		   "[ -100123 ]; }, got an integer");
	expect_one(BASE "routes = { };\n",
		   NAME ":2: routes: expected a list of groups like ( { chats "
		   "= [ -100123 ]; } ), got a group");
	expect_one(BASE "routes = ( { chats = [ 1 ];\n"
		   " min_severity = \"loud\"; } );\n",
		   NAME ":3: routes[0].min_severity: unknown severity \"loud\" "
		   "(expected critical, error, warning, info or debug)");
	expect_one(BASE "routes = ( { chats = [ 1 ];\n thread_id = -1; } );\n",
		   NAME ":3: routes[0].thread_id: -1 is out of range "
		   "(0..9223372036854775807)");
	expect_one(BASE "routes = ( { chats = [ 1, 1 ]; } );\n",
		   NAME ":2: routes[0].chats[1]: duplicate chat id 1");
	/* An empty array is accepted as "no routes". */
	assert_int_equal(load(BASE "routes = [ ];\n"), 0);
	assert_int_equal(cfg.nroutes, 0);

	n = (size_t)snprintf(text, sizeof(text), BASE "routes = (");
	for (int i = 0; i <= CONFIG_MAX_ROUTES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "%s{ chats = [ %d ]; }", i ? ", " : "",
				      i + 1);
	snprintf(text + n, sizeof(text) - n, ");\n");
	expect_one(text, NAME ":2: routes: too many routes (33, max 32)");
	assert_int_equal(cfg.nroutes, CONFIG_MAX_ROUTES);
}

static void test_syntax_error(void **state)
{
	(void)state;
	assert_int_equal(load(BASE "\n\nsocket = { path = ; };\n"), -1);
	assert_int_equal(strncmp(err, NAME ":4: syntax error: ", 18), 0);
	assert_int_equal(count_lines(err), 1);
	/* A token written without quotes is a syntax error that does not
	 * quote it. */
	assert_int_equal(load("telegram = {\n token = 123456:SECRETxyz;\n"
			      " chats = [ 1 ]; };\n"), -1);
	assert_int_equal(strncmp(err, NAME ":2: syntax error", 17), 0);
	assert_null(strstr(err, "SECRETxyz"));
	expect_one(BASE "telegram = { };\n",
		   NAME ":2: syntax error: duplicate setting name");
}

static void test_include_refused(void **state)
{
	(void)state;
	expect_one(BASE "\n@include \"/etc/passwd\"\n",
		   NAME ":3: @include is not supported: keep the whole "
		   "configuration in one file");
}

static void test_multiple_errors(void **state)
{
	(void)state;
	assert_int_equal(load("telegram = { token = \"1:a\";\n"
			      " chats = [ 1, 1 ];\n"
			      " pol_timeout = 5; };\n"
			      "socket = { max_clients = 0; mode = \"9\"; };\n"
			      "bogus = 1;\n"), -1);
	assert_string_equal(err,
		NAME ":2: telegram.chats[1]: duplicate chat id 1\n"
		NAME ":3: unknown key \"telegram.pol_timeout\" (did you mean "
		"\"poll_timeout\"?)\n"
		NAME ":4: socket.max_clients: 0 is out of range (1..65536)\n"
		NAME ":4: socket.mode: expected an octal mode from \"0000\" to "
		"\"0777\", like \"0660\"\n"
		NAME ":5: unknown key \"bogus\"");
}

static void test_error_truncation(void **state)
{
	char text[4096], small[200];
	size_t n;
	int rc;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), BASE);
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "unknown%d = 1;\n", i);
	rc = config_load_string(&cfg, text, NAME, NULL, small, sizeof(small),
				NULL, 0);
	assert_int_equal(rc, -1);
	assert_true(strlen(small) < sizeof(small));
	assert_contains(small, NAME ":2: unknown key \"unknown0\"\n");
	n = strlen(small);
	assert_true(n > 16);
	assert_string_equal(small + n - 16, "\n... more errors");
	/* Everything fits in a big buffer: one line per problem. */
	assert_int_equal(load(text), -1);
	assert_int_equal(count_lines(err), 40);
	assert_null(strstr(err, "more errors"));
}

static void test_int64_chats(void **state)
{
	(void)state;
	assert_int_equal(load("telegram = { token = \"1:a\";\n"
			      " chats = [ -1001234567890, -1001234567891L, 12,"
			      " 0x7fffffffffffffff, 5LL ];\n"
			      " admins = ( 9000000000, 3 ); };\n"
			      "routes = ( { chats = [ -1009876543210 ];"
			      " thread_id = 8589934592; } );\n"), 0);
	assert_int_equal(cfg.nchats, 5);
	assert_true(cfg.chats[0] == INT64_C(-1001234567890));
	assert_true(cfg.chats[1] == INT64_C(-1001234567891));
	assert_true(cfg.chats[2] == 12);
	assert_true(cfg.chats[3] == INT64_MAX);
	assert_true(cfg.chats[4] == 5);
	assert_true(cfg.admins[0] == INT64_C(9000000000));
	assert_true(cfg.routes[0].chats[0] == INT64_C(-1009876543210));
	assert_true(cfg.routes[0].thread_id == INT64_C(8589934592));
	/* floats and strings that look like numbers are left alone */
	assert_int_equal(load(BASE "limits = { chat_per_second = 1.5e-1; "
			      "global_per_second = .5; };\n"
			      "socket = { group = \"12#3 // 4 /* 5\"; };\n"
			      "/* 7 */ store = { retention_days = 7; };\n"), 0);
	assert_true(cfg.chat_per_second == 0.15);
	assert_true(cfg.global_per_second == 0.5);
	assert_string_equal(cfg.socket_group, "12#3 // 4 /* 5");
	assert_int_equal(cfg.retention_days, 7);
	/* Past 64 bits is an error, never a silently different chat. */
	expect_one(BASE "\nx = [ -99999999999999999999 ];\n",
		   NAME ":3: integer out of range (more than 64 bits)");
	expect_one(BASE "x = 0x1ffffffffffffffff;\n",
		   NAME ":2: integer out of range (more than 64 bits)");
}

/* ---- tokens ------------------------------------------------------------ */

static char tmpdir[64];
static char tokpath[128];

static void write_token_file(const char *content, mode_t mode)
{
	FILE *f = fopen(tokpath, "w");

	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(tokpath, mode), 0);
}

static int token_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(tokpath, sizeof(tokpath), "%s/token", tmpdir);
	return 0;
}

static int token_teardown(void **state)
{
	(void)state;
	unlink(tokpath);
	rmdir(tmpdir);
	return 0;
}

static void load_tokens(const char *env, int with_file, int with_inline)
{
	char text[512];

	snprintf(text, sizeof(text), "telegram = {\n chats = [ 1 ];\n"
		 "%s token_file = \"%s\";\n%s token = \"111:inline\";\n};\n",
		 with_file ? "" : "#", tokpath, with_inline ? "" : "#");
	load_env(text, env);
}

static void test_token_precedence(void **state)
{
	(void)state;
	write_token_file("222:from_file-X \t\r\nsecond line\n", 0600);

	load_tokens("333:env", 1, 1);
	assert_string_equal(err, "");
	assert_string_equal(cfg.token, "333:env");
	assert_string_equal(cfg.token_source, "OPSBOT_TOKEN");

	load_tokens("", 1, 1); /* empty env does not count */
	assert_string_equal(err, "");
	assert_string_equal(cfg.token, "222:from_file-X");
	assert_string_equal(cfg.token_source, "token_file");
	assert_string_equal(warn, NAME ":4: warning: both telegram.token and "
			    "telegram.token_file are set; token_file wins");

	load_tokens(NULL, 0, 1);
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	assert_string_equal(cfg.token, "111:inline");
	assert_string_equal(cfg.token_source, "token");

	load_tokens(NULL, 1, 0);
	assert_string_equal(cfg.token_source, "token_file");
	assert_string_equal(warn, "");

	/* The env token wins without reading the file at all. */
	unlink(tokpath);
	load_tokens("333:env", 1, 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.token_source, "OPSBOT_TOKEN");
}

static void test_token_missing(void **state)
{
	(void)state;
	expect_one("telegram = { chats = [ 1 ]; };\n",
		   NAME ": telegram.token: no bot token (set OPSBOT_TOKEN, "
		   "telegram.token_file or telegram.token)");
	assert_int_equal(load_env("telegram = { chats = [ 1 ]; };\n", "9:x"),
			 0);
	assert_string_equal(cfg.token, "9:x");
}

static void test_token_file_errors(void **state)
{
	char want[512];

	(void)state;
	unlink(tokpath);
	load_tokens(NULL, 1, 0);
	snprintf(want, sizeof(want), NAME ":3: telegram.token_file: cannot "
		 "read %s: %s", tokpath, strerror(ENOENT));
	assert_string_equal(err, want);

	/* a directory (or FIFO, device) is refused without blocking */
	snprintf(want, sizeof(want), "telegram = { chats = [ 1 ];\n"
		 " token_file = \"%s\"; };\n", tmpdir);
	assert_int_equal(load(want), -1);
	assert_contains(err, NAME ":2: telegram.token_file: cannot read ");
	assert_contains(err, ": not a regular file");

	write_token_file("\n222:second-line\n", 0600);
	load_tokens(NULL, 1, 0);
	snprintf(want, sizeof(want), NAME ":3: telegram.token_file: cannot "
		 "read %s: the first line is empty", tokpath);
	assert_string_equal(err, want);

	write_token_file("222:SECRET/part\n", 0600);
	load_tokens(NULL, 1, 0);
	snprintf(want, sizeof(want), NAME ":3: telegram.token_file: %s does "
		 "not hold a bot token (expected 123456:ABC...)", tokpath);
	assert_string_equal(err, want);
	assert_null(strstr(err, "SECRET"));
}

static void test_token_file_mode_warning(void **state)
{
	char want[512];

	(void)state;
	write_token_file("222:abc\n", 0640);
	load_tokens(NULL, 1, 0);
	assert_string_equal(err, "");
	snprintf(want, sizeof(want), NAME ":3: warning: token file %s is "
		 "readable by group or others; chmod 600 it", tokpath);
	assert_string_equal(warn, want);

	write_token_file("222:abc\n", 0604);
	load_tokens(NULL, 1, 0);
	assert_string_equal(warn, want);

	write_token_file("222:abc\n", 0600);
	load_tokens(NULL, 1, 0);
	assert_string_equal(warn, "");
	assert_string_equal(cfg.token, "222:abc");
}

static void test_token_never_echoed(void **state)
{
	static const char *const bad[] = {
		"123:SECRETxyz!", "SECRETxyz", "123:", ":SECRETxyz",
		"123:SECRETxyz ", "12a:SECRETxyz", "123:SECRETxyz:more",
	};
	char text[512], big[600];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		snprintf(text, sizeof(text), "telegram = { chats = [ 1 ];\n"
			 " token = \"%s\"; };\n", bad[i]);
		assert_int_equal(load(text), -1);
		assert_string_equal(err, NAME ":2: telegram.token: not a bot "
				    "token (expected 123456:ABC...)");
		assert_int_equal(load_env("telegram = { chats = [ 1 ]; };\n",
					  bad[i]), -1);
		assert_string_equal(err, NAME ": OPSBOT_TOKEN: not a bot token "
				    "(expected 123456:ABC...)");
		assert_null(strstr(err, "SECRET"));
	}
	/* too long for the token buffer: refused, not cut */
	memset(big, 'S', sizeof(big));
	memcpy(big, "123:", 4);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "telegram = { chats = [ 1 ];\n"
		 " token = \"%.300s\"; };\n", big);
	expect_one(text, NAME ":2: telegram.token: not a bot token (expected "
		   "123456:ABC...)");
	/* a wrong type does not quote it either */
	expect_one("telegram = { chats = [ 1 ];\n token = 123456; };\n",
		   NAME ":2: telegram.token: expected a string, got an "
		   "integer");
}

/* token_file = "<the token>" (the token pasted into the wrong key): no
 * message quotes the value, whether the file is missing or exists. */
static void test_token_file_value_never_echoed(void **state)
{
	char text[512], path[256];
	FILE *f;

	(void)state;
	load_env("telegram = { chats = [ 1 ];\n"
		 " token_file = \"123456:AAHsecretSECRET\"; };\n", NULL);
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(warn, "SECRET"));
	snprintf(text, sizeof(text), NAME ":2: telegram.token_file: cannot "
		 "read (a name that looks like a token, not shown): %s",
		 strerror(ENOENT));
	assert_string_equal(err, text);

	/* a file by that name exists, readable by all, holding no token */
	snprintf(path, sizeof(path), "%s/123456:AAHsecretSECRET", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("nothing\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0644), 0);
	snprintf(text, sizeof(text), "telegram = { chats = [ 1 ];\n"
		 " token_file = \"%s\"; };\n", path);
	load_env(text, NULL);
	assert_null(strstr(err, "SECRET"));
	assert_null(strstr(warn, "SECRET"));
	assert_contains(err, "(a name that looks like a token, not shown) "
			"does not hold a bot token");
	assert_contains(warn, "warning: token file (a name that looks like a "
			"token, not shown) is readable");
	unlink(path);
	/* an ordinary path is still named */
	unlink(tokpath);
	load_tokens(NULL, 1, 0);
	assert_contains(err, tokpath);
}

/* An inline token in a config file that group or others can read: the
 * senders (who read bot.conf for `opsbot send`) have it. check-config
 * warns and recommends token_file. */
static void test_inline_token_in_readable_file(void **state)
{
	char path[256];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/bot.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("telegram = { chats = [ 1 ];\n token = \"1:abcd\"; };\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load(&cfg, path, NULL, err, sizeof(err), warn,
				     sizeof(warn)), 0);
	assert_contains(warn, ":2: warning: telegram.token is in a file "
			"readable by group or others (mode 0640)");
	assert_contains(warn, "telegram.token_file");
	assert_null(strstr(warn, "abcd"));
	/* the env token wins, but the file still holds one */
	assert_int_equal(config_load(&cfg, path, "9:envtoken", err,
				     sizeof(err), warn, sizeof(warn)), 0);
	assert_contains(warn, "warning: telegram.token is in a file");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_load(&cfg, path, NULL, err, sizeof(err), warn,
				     sizeof(warn)), 0);
	assert_string_equal(warn, "");
	/* no inline token: a readable file is fine */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("telegram = { chats = [ 1 ]; };\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, "9:envtoken", err,
				     sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(warn, "");
	unlink(path);
}

/* socket.max_clients_per_uid and socket.max_output_total: defaults, values
 * and ranges. */
static void test_socket_budget_keys(void **state)
{
	(void)state;
	assert_int_equal(load(BASE), 0);
	assert_int_equal(cfg.max_clients_per_uid, 32);
	assert_int_equal(cfg.max_output_total, 33554432);
	assert_int_equal(load(BASE "socket = { max_clients_per_uid = 4;\n"
			      " max_output_total = 65536; };\n"), 0);
	assert_int_equal(cfg.max_clients_per_uid, 4);
	assert_int_equal(cfg.max_output_total, 65536);
	expect_one(BASE "socket = { max_clients_per_uid = 0; };\n",
		   NAME ":2: socket.max_clients_per_uid: 0 is out of range "
		   "(1..65536)");
	expect_one(BASE "socket = { max_output_total = 65535; };\n",
		   NAME ":2: socket.max_output_total: 65535 is out of range "
		   "(65536..17179869184)");
}

/* ---- files ------------------------------------------------------------- */

static void test_missing_file(void **state)
{
	char want[512];

	(void)state;
	assert_int_equal(config_load(&cfg, "/nonexistent/bot.conf", "1:a",
				     err, sizeof(err), warn, sizeof(warn)), -1);
	snprintf(want, sizeof(want), "/nonexistent/bot.conf: cannot open: %s",
		 strerror(ENOENT));
	assert_string_equal(err, want);
}

static void test_file_errors_name_the_file(void **state)
{
	char path[128], want[256];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("telegram = { chats = [ 1 ];\n  chatz = 1; };\n", f);
	fclose(f);
	assert_int_equal(config_load(&cfg, path, "1:a", err, sizeof(err),
				     NULL, 0), -1);
	snprintf(want, sizeof(want), "%s:2: unknown key \"telegram.chatz\" "
		 "(did you mean \"chats\"?)", path);
	assert_string_equal(err, want);
	assert_string_equal(cfg.path, path);

	/* a NUL byte would silently end libconfig's parse */
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("telegram = { chats = [ 1 ]; };\n\0x", 1, 34, f);
	fclose(f);
	assert_int_equal(config_load(&cfg, path, "1:a", err, sizeof(err),
				     NULL, 0), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in file", path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_example_loads(void **state)
{
	struct config def;

	(void)state;
	assert_int_equal(config_load(&cfg, "bot.conf.example", "123:abc", err,
				     sizeof(err), warn, sizeof(warn)), 0);
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	assert_string_equal(cfg.token_source, "OPSBOT_TOKEN");
	assert_int_equal(cfg.nchats, 1);
	assert_true(cfg.chats[0] == INT64_C(-1001234567890));
	/* The example documents the defaults: everything after the ids
	 * must equal config_defaults(). */
	config_defaults(&def);
	assert_same_from_poll_timeout(&cfg, &def);
	assert_string_equal(cfg.api_url, def.api_url);
	assert_int_equal(cfg.nviewers, 0);
}

/* ---- http ------------------------------------------------------------- */

static void test_http_defaults(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_string_equal(cfg.http_listen, "");
	assert_string_equal(cfg.http_token, "");
	assert_int_equal(cfg.http_max_body, 1048576);
	assert_int_equal(cfg.http_max_alerts, 1000);
	assert_int_equal(cfg.http_max_connections, 64);
	assert_int_equal(cfg.http_timeout, 10);
	/* A file without an http section has no listener. */
	assert_int_equal(load(BASE), 0);
	assert_string_equal(cfg.http_listen, "");
}

static void test_http_valid(void **state)
{
	(void)state;
	assert_int_equal(load(BASE "http = {\n  listen = \"127.0.0.1:9180\";\n"
			      "  max_body = 2048; max_alerts = 5;\n"
			      "  max_connections = 3; timeout = 7;\n};\n"), 0);
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	assert_string_equal(cfg.http_listen, "127.0.0.1:9180");
	assert_string_equal(cfg.http_token, "");
	assert_int_equal(cfg.http_max_body, 2048);
	assert_int_equal(cfg.http_max_alerts, 5);
	assert_int_equal(cfg.http_max_connections, 3);
	assert_int_equal(cfg.http_timeout, 7);
	assert_int_equal(load(BASE "http = { listen = \"[::1]:0\"; };\n"), 0);
	assert_int_equal(load(BASE "http = { listen = \"localhost:80\"; };\n"),
			 0);
}

static void test_http_errors(void **state)
{
	(void)state;
	expect_one(BASE "http = {\n  listen = \"0.0.0.0:9180\";\n};\n",
		   NAME ":3: http.listen: 0.0.0.0:9180 is not a loopback "
		   "address; set http.token_file");
	expect_one(BASE "http = { listen = \"[::]:9180\"; };\n",
		   NAME ":2: http.listen: [::]:9180 is not a loopback "
		   "address; set http.token_file");
	expect_one(BASE "http = { listen = \"127.0.0.1:x\"; };\n",
		   NAME ":2: http.listen: \"127.0.0.1:x\": bad port (expected "
		   "a number from 0 to 65535)");
	expect_one(BASE "http = { listen = \"127.0.0.1:65536\"; };\n",
		   NAME ":2: http.listen: \"127.0.0.1:65536\": bad port "
		   "(expected a number from 0 to 65535)");
	expect_one(BASE "http = { listen = \"example.com:80\"; };\n",
		   NAME ":2: http.listen: \"example.com:80\": unknown host "
		   "(expected an IPv4 address, [IPv6] or localhost; names are "
		   "not resolved)");
	expect_one(BASE "http = { listen = \"9180\"; };\n",
		   NAME ":2: http.listen: \"9180\": no port (expected "
		   "host:port, like 127.0.0.1:9180)");
	expect_one(BASE "http = { listen = 9180; };\n",
		   NAME ":2: http.listen: expected a string, got an integer");
	expect_one(BASE "http = { max_body = 100; };\n",
		   NAME ":2: http.max_body: 100 is out of range "
		   "(1024..67108864)");
	expect_one(BASE "http = { max_connections = 0; };\n",
		   NAME ":2: http.max_connections: 0 is out of range "
		   "(1..4096)");
	expect_one(BASE "http = { timeout = 0; };\n",
		   NAME ":2: http.timeout: 0 is out of range (1..3600)");
	expect_one(BASE "http = { max_alerts = 0; };\n",
		   NAME ":2: http.max_alerts: 0 is out of range (1..100000)");
	expect_one(BASE "http = { listn = \"127.0.0.1:1\"; };\n",
		   NAME ":2: unknown key \"http.listn\" (did you mean "
		   "\"listen\"?)");
	expect_one(BASE "http = { token_file = \"\"; };\n",
		   NAME ":2: http.token_file: must not be empty");
	expect_one(BASE "http = 5;\n",
		   NAME ":2: http: expected a group like { ... }, got an "
		   "integer");
}

static void load_http_token(const char *listen)
{
	char text[512];

	snprintf(text, sizeof(text), BASE "http = {\n  listen = \"%s\";\n"
		 "  token_file = \"%s\";\n};\n", listen, tokpath);
	load(text);
}

static void test_http_token_file(void **state)
{
	char want[512];

	(void)state;
	/* Any address with a token, the token's first line trimmed. */
	write_token_file("Abc.def~ghi+/=_-123 \r\nnext\n", 0600);
	load_http_token("0.0.0.0:9180");
	assert_string_equal(err, "");
	assert_string_equal(warn, "");
	assert_string_equal(cfg.http_token, "Abc.def~ghi+/=_-123");
	assert_string_equal(cfg.token, "1:a"); /* the bot's is apart */

	write_token_file("secret\n", 0644);
	load_http_token("127.0.0.1:1");
	assert_string_equal(err, "");
	snprintf(want, sizeof(want), NAME ":4: warning: token file %s is "
		 "readable by group or others; chmod 600 it", tokpath);
	assert_string_equal(warn, want);

	/* Refused, never quoted. */
	write_token_file("two SECRET words\n", 0600);
	load_http_token("127.0.0.1:1");
	snprintf(want, sizeof(want), NAME ":4: http.token_file: %s does not "
		 "hold a usable token (one line of printable characters "
		 "without spaces, at most 255)", tokpath);
	assert_string_equal(err, want);
	assert_null(strstr(err, "SECRET"));
	assert_string_equal(cfg.http_token, "");

	write_token_file("\nSECRET\n", 0600);
	load_http_token("127.0.0.1:1");
	snprintf(want, sizeof(want), NAME ":4: http.token_file: cannot read "
		 "%s: the first line is empty", tokpath);
	assert_string_equal(err, want);

	unlink(tokpath);
	load_http_token("0.0.0.0:9180");
	snprintf(want, sizeof(want), NAME ":4: http.token_file: cannot read "
		 "%s: %s", tokpath, strerror(ENOENT));
	assert_string_equal(err, want);
}

/* ---- robustness -------------------------------------------------------- */

static void test_garbage(void **state)
{
	static const char *const junk[] = {
		"", "\n", "{", "}", "=", ";;;", "\"", "\"\\", "/*", "/* x",
		"#", "@", "@include", "@include \"", "-", "+", ".", "-.",
		"0x", "0xL", "1e", "1.e+", "telegram", "telegram = ",
		"telegram = {", "telegram = { chats = [", "routes = ( (",
		"routes = ( { chats = ( ( ) ); } );",
		"telegram = { chats = [ 1 ]; token = \"1:a\"; };\nlog = ();",
		"x = -\n", "a = 5Labc;", "a = 1 2 3;", "\xff\xfe\x00",
		"telegram = { chats = [ 1 ]; token = \"1:a\"; }; "
		"socket = { allowed_uids = ( 1, ( 2 ), { } ); };",
		"a = \"unterminated\n\n\n",
	};
	uint32_t seed = 12345;
	char text[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(junk); i++) {
		int rc = load(junk[i]);

		assert_int_equal(rc, -1);
		assert_true(err[0] != '\0');
	}
	/* deterministic pseudo-random bytes from a config-ish alphabet */
	for (int round = 0; round < 2000; round++) {
		static const char alpha[] = "telgramchatsroute{}[]();=\"\\#/*"
					    "@Lx0123456789-+.e \n,";
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % (sizeof(text) - 1);
		for (size_t j = 0; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			text[j] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		text[n] = '\0';
		(void)load(text);
		assert_true(strlen(err) < sizeof(err));
	}
}

/* ---- bot.conf.example against the key tables ---------------------------
 *
 * Conventions of bot.conf.example that this checks:
 *  - inside "name = {" ... "};", a line "key = value;" or, commented out,
 *    "# key = value;" documents name.key;
 *  - the value shown is the table's default (white space aside), unless
 *    the line ends in "# example, default: X" (then X is the default) or
 *    the key has no default (required, or absent unless set);
 *  - route keys are listed after "Keys of a route:" as "#   key  ...",
 *    with "(default X" in their description when they have one.
 */

#define EXAMPLE "bot.conf.example"

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return text;
}

/* s[0..n) without white space, in dst. */
static const char *squeeze(char *dst, size_t size, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++)
		if (!isspace((unsigned char)s[i]))
			dst[o++] = s[i];
	dst[o] = '\0';
	return dst;
}

static const struct section *example_section(const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(sections); i++)
		if (strlen(sections[i].name) == n &&
		    strncmp(sections[i].name, name, n) == 0)
			return &sections[i];
	return NULL;
}

/* Length of the [a-z_] name at p. */
static size_t ident_len(const char *p)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_')
		n++;
	return n;
}

/* One documented key: known, and showing its default. */
static void example_key(const struct section *sec, const char *name,
			size_t nlen, const char *value, size_t vlen,
			const char *tail, int line, unsigned char *seen)
{
	char shown[256], def[256];
	const char *d;
	size_t k;

	for (k = 0; k < sec->nkeys; k++)
		if (strlen(sec->keys[k].name) == nlen &&
		    strncmp(sec->keys[k].name, name, nlen) == 0)
			break;
	if (k == sec->nkeys)
		fail_msg(EXAMPLE ":%d: %s.%.*s is not in the key table", line,
			 sec->name, (int)nlen, name);
	seen[k] = 1;
	if (sec->keys[k].def == NULL)
		return;
	squeeze(def, sizeof(def), sec->keys[k].def, strlen(sec->keys[k].def));
	if (strncmp(tail, "example", 7) == 0) {
		if ((d = strstr(tail, "default:")) == NULL)
			fail_msg(EXAMPLE ":%d: %s.%s shows an example but not "
				 "its default %s", line, sec->name,
				 sec->keys[k].name, sec->keys[k].def);
		d += strlen("default:");
		squeeze(shown, sizeof(shown), d, strcspn(d, "\n"));
	} else {
		squeeze(shown, sizeof(shown), value, vlen);
	}
	if (strcmp(shown, def) != 0)
		fail_msg(EXAMPLE ":%d: %s.%s shows %s, the default is %s",
			 line, sec->name, sec->keys[k].name, shown, def);
}

static void test_example_matches_tables(void **state)
{
	char *text = slurp(EXAMPLE), *p = text, *eol;
	const struct section *sec = NULL;
	unsigned char seen[ARRAY_LEN(sections)][64];
	int line = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (; *p; p = *eol ? eol + 1 : eol) {
		const char *q = p, *eq, *semi, *tail;
		size_t n;

		eol = p + strcspn(p, "\n");
		line++;
		while (q < eol && isspace((unsigned char)*q))
			q++;
		if (sec == NULL) {
			n = ident_len(q);
			eq = q + n + strspn(q + n, " \t");
			if (n && *eq == '=' && eq[1 + strspn(eq + 1, " \t")] ==
			    '{')
				sec = example_section(q, n);
			continue;
		}
		if (strncmp(q, "};", 2) == 0) {
			sec = NULL;
			continue;
		}
		if (*q == '#')
			q += 1 + strspn(q + 1, " \t");
		n = ident_len(q);
		eq = q + n + strspn(q + n, " \t");
		if (n == 0 || *eq != '=' ||
		    (semi = memchr(eq, ';', (size_t)(eol - eq))) == NULL)
			continue;
		tail = semi + 1 + strspn(semi + 1, " \t");
		if (*tail == '#')
			tail += 1 + strspn(tail + 1, " \t");
		assert_true(sec->nkeys <= ARRAY_LEN(seen[0]));
		example_key(sec, q, n, eq + 1, (size_t)(semi - eq - 1), tail,
			    line, seen[sec - sections]);
	}
	for (size_t i = 0; i < ARRAY_LEN(sections); i++)
		for (size_t k = 0; k < sections[i].nkeys; k++)
			if (!seen[i][k])
				fail_msg("%s.%s is not documented in " EXAMPLE,
					 sections[i].name,
					 sections[i].keys[k].name);
	free(text);
}

/* Route keys are described in a comment block, each with its default. */
static void test_example_route_keys(void **state)
{
	char *text = slurp(EXAMPLE), *block, want[64], key[64];

	(void)state;
	assert_non_null(block = strstr(text, "Keys of a route:"));
	for (size_t k = 0; k < ARRAY_LEN(route_keys); k++) {
		const char *at, *end, *next;

		snprintf(key, sizeof(key), "\n#   %s ", route_keys[k].name);
		if ((at = strstr(block, key)) == NULL)
			fail_msg("route key %s is not described in " EXAMPLE,
				 route_keys[k].name);
		/* Its description runs to the next key or the example. */
		end = at + strlen(key);
		while ((next = strstr(end, "\n#   ")) != NULL &&
		       next[5] == ' ')
			end = next + 5;
		if (next == NULL)
			next = end + strlen(end);
		if (route_keys[k].def == NULL)
			continue;
		snprintf(want, sizeof(want), "(default %s", route_keys[k].def);
		if (memmem(at, (size_t)(next - at), want, strlen(want)) ==
		    NULL)
			fail_msg("route key %s: " EXAMPLE " does not say "
				 "\"%s\"", route_keys[k].name, want);
	}
	free(text);
}

/* Every default in the tables is one the parser accepts, and applying it
 * stores what parsing it does. */
static void test_table_defaults_parse(void **state)
{
	static const char base[] =
		"telegram = { token = \"1:a\"; chats = [ 1 ]; };\n";
	char text[512];
	struct config def;

	(void)state;
	config_defaults(&def);
	for (size_t i = 0; i < ARRAY_LEN(sections); i++) {
		for (size_t k = 0; k < sections[i].nkeys; k++) {
			const struct key *key = &sections[i].keys[k];

			if (key->def == NULL || key->kind == K_CHATS ||
			    key->kind == K_USERS || key->kind == K_UIDS)
				continue;
			if (strcmp(sections[i].name, "telegram") == 0)
				snprintf(text, sizeof(text), "telegram = { "
					 "token = \"1:a\"; chats = [ 1 ]; "
					 "%s = %s; };\n", key->name, key->def);
			else
				snprintf(text, sizeof(text), "%s%s = { %s = "
					 "%s; };\n", base, sections[i].name,
					 key->name, key->def);
			if (load(text) != 0)
				fail_msg("%s.%s = %s refused: %s",
					 sections[i].name, key->name, key->def,
					 err);
			if (memcmp((char *)&cfg + key->off,
				   (char *)&def + key->off, key->size) != 0)
				fail_msg("%s.%s: default applied differs from "
					 "parsed", sections[i].name, key->name);
		}
	}
}

/* The alertmanager section: peers, matchers, credentials, defaults. */
static void test_alertmanager_section(void **state)
{
	char text[1024];

	(void)state;
	assert_int_equal(load(BASE), 0);
	assert_int_equal(cfg.am_npeers, 0);
	assert_int_equal(cfg.am_nmatchers, 2);
	assert_string_equal(cfg.am_matchers[0], "alertname");
	assert_string_equal(cfg.am_matchers[1], "instance");
	assert_int_equal(cfg.am_connect_timeout, 3);
	assert_int_equal(cfg.am_timeout, 10);

	write_token_file("am-SECRET-token\n", 0600);
	snprintf(text, sizeof(text), BASE "alertmanager = {\n"
		 " urls = [ \"http://127.0.0.1:9093/\", \"https://am2\" ];\n"
		 " token_file = \"%s\";\n"
		 " silence_matchers = [ \"*\" ];\n timeout = 2;\n};\n",
		 tokpath);
	assert_int_equal(load(text), 0);
	assert_int_equal(cfg.am_npeers, 2);
	assert_string_equal(cfg.am_peers[0], "http://127.0.0.1:9093");
	assert_string_equal(cfg.am_peers[1], "https://am2");
	assert_string_equal(cfg.am_token, "am-SECRET-token");
	assert_int_equal(cfg.am_nmatchers, 1);
	assert_string_equal(cfg.am_matchers[0], "*");
	assert_int_equal(cfg.am_timeout, 2);

	expect_one(BASE "alertmanager = { urls = [ \"ftp://x\" ]; };\n",
		   NAME ":2: alertmanager.urls[0]: expected an http:// or "
		   "https:// URL like \"https://api.telegram.org\"");
	expect_one(BASE "alertmanager = { urls = \"http://x\"; };\n",
		   NAME ":2: alertmanager.urls: expected an array of URLs "
		   "like [ \"http://am1:9093\" ], got a string");
	expect_one(BASE "alertmanager = { silence_matchers = [ \"a-b\" ]; };\n",
		   NAME ":2: alertmanager.silence_matchers[0]: invalid label "
		   "name \"a-b\" (letters, digits and _, or \"*\" for every "
		   "label)");
	expect_one(BASE "alertmanager = { user = \"u\"; };\n",
		   NAME ":2: alertmanager: basic auth needs both "
		   "alertmanager.user and alertmanager.password_file");
	/* a secret that is refused is never quoted */
	write_token_file("two SECRET words\n", 0600);
	snprintf(text, sizeof(text), BASE "alertmanager = {\n"
		 " password_file = \"%s\"; user = \"u\"; };\n", tokpath);
	assert_int_equal(load(text), -1);
	assert_null(strstr(err, "SECRET"));
	assert_non_null(strstr(err, "alertmanager.password_file"));
	unlink(tokpath);
}

/* A relay section with peers and no chats runs without a token; with
 * chats it is refused; an empty one without chats says what is missing. */
static void test_relay_mode(void **state)
{
	(void)state;
	assert_int_equal(load(BASE), 0);
	assert_int_equal(cfg.relay, 0);
	assert_int_equal(cfg.relay_repost_interval, 60);
	assert_int_equal(cfg.relay_batch, 100);

	assert_int_equal(load("relay = { alertmanager = [ \"http://a:9093\","
			      " \"http://b:9093\" ]; host = \"web7\"; };\n"),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(cfg.relay, 1);
	assert_int_equal(cfg.relay_npeers, 2);
	assert_string_equal(cfg.relay_peers[1], "http://b:9093");
	assert_string_equal(cfg.relay_host, "web7");
	assert_string_equal(cfg.token, "");

	expect_one(BASE "relay = { alertmanager = [ \"http://a\" ]; };\n",
		   NAME ":1: telegram.chats: a relay (relay.alertmanager is "
		   "set) forwards to Alertmanager and sends nothing to "
		   "Telegram; remove telegram.chats or the relay section");
	expect_one("relay = { alertmanager = [ ]; };\n",
		   NAME ":1: relay.alertmanager: required in relay mode: the "
		   "Alertmanager URLs to forward to, like "
		   "[ \"http://am1:9093\" ]");
	/* without a relay section, chats and a token stay required */
	assert_int_equal(load("log = { level = \"info\"; };\n"), -1);
	assert_non_null(strstr(err, "telegram.chats: required"));
	assert_non_null(strstr(err, "telegram.token: no bot token"));
	expect_one(BASE "relay = { repost_interval = 1; };\n",
		   NAME ":2: relay.repost_interval: 1 is out of range "
		   "(5..3600)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_minimal_gets_defaults),
		cmocka_unit_test(test_full_valid),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_retry_cap_below_base),
		cmocka_unit_test(test_chats_required),
		cmocka_unit_test(test_duplicate_chats),
		cmocka_unit_test(test_too_many_chats),
		cmocka_unit_test(test_socket_path_length),
		cmocka_unit_test(test_socket_mode),
		cmocka_unit_test(test_severity_and_level),
		cmocka_unit_test(test_api_url),
		cmocka_unit_test(test_example_matches_tables),
		cmocka_unit_test(test_example_route_keys),
		cmocka_unit_test(test_table_defaults_parse),
		cmocka_unit_test(test_routes_invalid),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_include_refused),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_error_truncation),
		cmocka_unit_test(test_int64_chats),
		cmocka_unit_test(test_token_precedence),
		cmocka_unit_test(test_token_missing),
		cmocka_unit_test(test_token_file_errors),
		cmocka_unit_test(test_token_file_mode_warning),
		cmocka_unit_test(test_token_never_echoed),
		cmocka_unit_test(test_token_file_value_never_echoed),
		cmocka_unit_test(test_inline_token_in_readable_file),
		cmocka_unit_test(test_socket_budget_keys),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_file_errors_name_the_file),
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_http_defaults),
		cmocka_unit_test(test_http_valid),
		cmocka_unit_test(test_http_errors),
		cmocka_unit_test(test_http_token_file),
		cmocka_unit_test(test_alertmanager_section),
		cmocka_unit_test(test_relay_mode),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, token_setup, token_teardown);
}
