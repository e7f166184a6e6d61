/*
 * test_url.c - unit tests for bot/url.c: which URLs pass (http and https,
 * written in full, with a host) and which problem each refusal names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/url.c"

static void test_accepted(void **state)
{
	static const char *const ok[] = {
		"http://a", "https://grafana.example/d/x?from=now-1h#p",
		"HTTPS://Example.org/", "Http://10.0.0.1:3000/",
		"http://[::1]:8080/x", "http://user:pw@h/",
		"https://ru.wikipedia.org/wiki/"
		"\xD0\xA2\xD0\xB5\xD1\x81\xD1\x82",
		"HTTP://x/\"><b>", "http://x?q", "http://x#f",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (url_check(ok[i], err, sizeof(err)) != URL_OK)
			fail_msg("%s refused: %s", ok[i], err);
		assert_string_equal(err, "");
	}
}

static void test_refused(void **state)
{
	static const struct {
		const char *url;
		int rc;
		const char *err;
	} bad[] = {
		{ "ftp://x/y", URL_BAD_SCHEME,
		  "must start with http:// or https://" },
		{ "javascript:alert(1)", URL_BAD_SCHEME, NULL },
		{ "data:text/html,<b>", URL_BAD_SCHEME, NULL },
		{ "grafana.example", URL_BAD_SCHEME, NULL },
		{ "", URL_BAD_SCHEME, NULL },
		{ "http:a", URL_BAD_SCHEME, NULL },
		{ "https://", URL_NO_HOST, "missing host" },
		{ "http://:80/", URL_NO_HOST, NULL },
		/* curl forgives these; a chat client would not. */
		{ "https:///x", URL_NO_HOST, NULL },
		{ "http:/a", URL_NO_HOST, NULL },
		{ "https://a b", URL_BAD_CHAR,
		  "contains a space or control character" },
		{ "https://a\nb", URL_BAD_CHAR, NULL },
		{ "https://a/\x7F", URL_BAD_CHAR, NULL },
		{ "https://a/\t", URL_BAD_CHAR, NULL },
		{ "http://h:99999/", URL_MALFORMED, NULL },
		{ "http://a<b/", URL_MALFORMED, NULL },
	};
	char err[128];
	int rc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = url_check(bad[i].url, err, sizeof(err));
		if (rc != bad[i].rc)
			fail_msg("%s: %d, expected %d", bad[i].url, rc,
				 bad[i].rc);
		assert_true(err[0] != '\0');
		if (bad[i].err)
			assert_string_equal(err, bad[i].err);
		/* err may be NULL. */
		assert_int_equal(url_check(bad[i].url, NULL, 0), rc);
	}
}

/* The reason never quotes the URL: it may carry a bot token. */
static void test_never_quotes(void **state)
{
	static const char *const bad[] = {
		"ftp://h/bot12:SECRETSECRET", "http://h:99999/SECRETSECRET",
		"https://SECRETSECRET<",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(url_check(bad[i], err, sizeof(err)), 0);
		assert_null(strstr(err, "SECRET"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_never_quotes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
