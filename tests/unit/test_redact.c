/*
 * test_redact.c - unit tests for the token redactor (bot/util.c
 * redact_secret, redact_set_secret, redact_all) and for the two paths a
 * token takes out of the process: log lines (bot/log.c) and Telegram's
 * reply descriptions (bot/tgapi.c), which become last_error, /status and
 * `opsbot status` text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/util.c"
#include "bot/log.c"
#include "bot/tgapi.c"
#include "bot/utf8.c"

#include <unistd.h>

#define TOKEN  "123456:AAHsecretSECRET-_x9"
#define SECRET "AAHsecretSECRET-_x9"

static void scrub(char *dst, size_t size, const char *src, const char *tok)
{
	str_copy(dst, src, size);
	redact_secret(dst, tok);
}

static void test_forms_of_the_token(void **state)
{
	char b[512];

	(void)state;
	scrub(b, sizeof(b), "url /bot" TOKEN "/getMe", TOKEN);
	assert_string_equal(b, "url /bot123456:***/getMe");
	scrub(b, sizeof(b), "enc bot123456%3A" SECRET " and %3a" SECRET, TOKEN);
	assert_string_equal(b, "enc bot123456%3A*** and %3a***");
	/* the bare token, and the bare secret, without any "bot" */
	scrub(b, sizeof(b), "token " TOKEN " secret " SECRET ".", TOKEN);
	assert_string_equal(b, "token 123456:*** secret ***.");
	/* every byte percent-encoded, any case */
	scrub(b, sizeof(b), "x%41%41H%73ecretSECRET%2D%5fx9y", TOKEN);
	assert_string_equal(b, "x***y");
	/* a prefix of it is not it */
	scrub(b, sizeof(b), "AAHsecretSECRET-_x", TOKEN);
	assert_string_equal(b, "AAHsecretSECRET-_x");
	/* back to back, at the start and at the end */
	scrub(b, sizeof(b), SECRET SECRET, TOKEN);
	assert_string_equal(b, "******");
	/* a bare secret as the argument works the same */
	scrub(b, sizeof(b), "a " SECRET, SECRET);
	assert_string_equal(b, "a ***");
	/* a broken %-escape at the very end is not read past */
	scrub(b, sizeof(b), "AAH%", TOKEN);
	assert_string_equal(b, "AAH%");
	scrub(b, sizeof(b), "AAH%4", TOKEN);
	assert_string_equal(b, "AAH%4");
}

static void test_short_or_no_secret_ignored(void **state)
{
	char b[64];

	(void)state;
	scrub(b, sizeof(b), "a 1:abc b abc", "1:abc");
	assert_string_equal(b, "a 1:abc b abc");
	scrub(b, sizeof(b), "text", NULL);
	assert_string_equal(b, "text");
	scrub(b, sizeof(b), "text", "");
	assert_string_equal(b, "text");
	redact_secret(NULL, TOKEN);
}

static void test_registry(void **state)
{
	char b[128];

	(void)state;
	redact_set_secret(TOKEN);
	str_copy(b, "x " SECRET " y bot99:otherSECRET", sizeof(b));
	redact_all(b);
	assert_string_equal(b, "x *** y bot99:***");
	redact_set_secret(NULL);
	assert_int_equal(registered[0], '\0');
	assert_int_equal(registered[5], '\0'); /* wiped, not just cut */
	str_copy(b, "x " SECRET, sizeof(b));
	redact_all(b);
	assert_string_equal(b, "x " SECRET);
}

/* A log line quoting the token URL-encoded, or bare, shows neither. */
static void test_log_lines(void **state)
{
	char path[] = "/tmp/opsbot-redact-XXXXXX", b[1024];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	log_init(LOG_LVL_INFO, 0);
	log_set_secret(TOKEN);
	log_error("desc: bot123456%%3A%s and bare %s", SECRET, SECRET);
	log_warnx("desc: %s", "123456%3a" SECRET);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, b, sizeof(b) - 1, 0);
	assert_true(n > 0);
	b[n] = '\0';
	close(fd);
	unlink(path);
	assert_null(strstr(b, "secret"));
	assert_non_null(strstr(b, "bot123456%3A***"));
	assert_non_null(strstr(b, "and bare ***"));
	assert_non_null(strstr(b, "123456%3a***"));
	log_set_secret(NULL);
}

/* Telegram's description (stored as last_error, shown by /status) is
 * scrubbed of the registered token in every form. */
static void test_tgapi_description(void **state)
{
	static const char body[] =
		"{\"ok\":false,\"error_code\":400,\"description\":\"Bad "
		"Request: token " TOKEN " enc 123456%3A" SECRET " bare "
		SECRET "\"}";
	struct tg_reply r;

	(void)state;
	redact_set_secret(TOKEN);
	tg_classify(&r, 0, NULL, 400, body, strlen(body));
	assert_null(strstr(r.description, "secret"));
	assert_string_equal(r.description, "Bad Request: token 123456:*** "
			    "enc 123456%3A*** bare ***");
	tg_reply_free(&r);
	/* curl's error text goes the same way */
	tg_classify(&r, 7, "connect to x/bot123456%3A" SECRET " failed", 0,
		    NULL, 0);
	assert_null(strstr(r.description, "secret"));
	tg_reply_free(&r);
	redact_set_secret(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms_of_the_token),
		cmocka_unit_test(test_short_or_no_secret_ignored),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_tgapi_description),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
