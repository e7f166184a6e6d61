/*
 * test_tgapi.c - unit tests for bot/tgapi.c: reply classification against
 * the Bot API's error replies, hostile and malformed replies, and the shape
 * of every request body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bot/util.c"
#include "bot/utf8.c"
#include "bot/tgapi.c"

#define CHAT_SUPERGROUP INT64_C(-1001234567890)
#define MAX_EXACT ((INT64_C(1) << 53) - 1)

/* Classifies a NUL-terminated body with curl success. */
static void classify(struct tg_reply *r, long status, const char *body)
{
	tg_classify(r, 0, NULL, status, body, strlen(body));
}

/* Classifies an error reply and returns its outcome (frees the reply). */
static enum tg_outcome error_outcome(long status, int code, const char *desc)
{
	struct tg_reply r;
	char body[512];
	enum tg_outcome o;

	snprintf(body, sizeof(body),
		 "{\"ok\":false,\"error_code\":%d,\"description\":\"%s\"}",
		 code, desc);
	classify(&r, status, body);
	assert_int_equal(r.error_code, code);
	o = r.outcome;
	tg_reply_free(&r);
	return o;
}

/* Is s valid UTF-8 with no control characters? */
static int clean_text(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		k = utf8_decode(s + i, n - i, NULL);
		if (k == 0 || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)))
			return 0;
		i += k;
	}
	return 1;
}

static cJSON *parse_body(char *s)
{
	cJSON *j;

	assert_non_null(s);
	j = cJSON_Parse(s);
	assert_non_null(j);
	free(s);
	return j;
}

static double num_at(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	assert_true(cJSON_IsNumber(it));
	return it->valuedouble;
}

static const char *str_at(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	assert_true(cJSON_IsString(it));
	return it->valuestring;
}

/* ---- successful replies ---------------------------------------------- */

static void test_ok_send_message_id(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 200,
		 "{\"ok\":true,\"result\":{\"message_id\":4711,\"from\":"
		 "{\"id\":123456,\"is_bot\":true},\"chat\":{\"id\":"
		 "-1001234567890,\"type\":\"supergroup\"},\"date\":1700000000,"
		 "\"text\":\"disk full\"}}");
	assert_int_equal(r.outcome, TG_OK);
	assert_int_equal(r.message_id, 4711);
	assert_int_equal(r.http_status, 200);
	assert_non_null(r.json);
	tg_reply_free(&r);
	assert_null(r.json);
	tg_reply_free(&r); /* idempotent */
}

static void test_ok_edit_message_id(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 200,
		 "{\"ok\":true,\"result\":{\"message_id\":99,\"chat\":{\"id\":"
		 "42,\"type\":\"private\"},\"date\":1700000000,\"edit_date\":"
		 "1700000100,\"text\":\"RESOLVED\"}}");
	assert_int_equal(r.outcome, TG_OK);
	assert_int_equal(r.message_id, 99);
	tg_reply_free(&r);
}

static void test_ok_result_true_and_updates(void **state)
{
	struct tg_reply r;
	const cJSON *res;

	(void)state;
	classify(&r, 200, "{\"ok\":true,\"result\":true}");
	assert_int_equal(r.outcome, TG_OK);
	assert_int_equal(r.message_id, 0);
	tg_reply_free(&r);

	/* getUpdates: the poller reads the kept tree */
	classify(&r, 200,
		 "{\"ok\":true,\"result\":[{\"update_id\":10,\"message\":"
		 "{\"message_id\":5,\"text\":\"/status\"}}]}");
	assert_int_equal(r.outcome, TG_OK);
	assert_int_equal(r.message_id, 0);
	res = cJSON_GetObjectItemCaseSensitive(r.json, "result");
	assert_true(cJSON_IsArray(res));
	assert_int_equal(cJSON_GetArraySize(res), 1);
	assert_int_equal(num_at(cJSON_GetArrayItem(res, 0), "update_id"), 10);
	tg_reply_free(&r);
}

static void test_bom_and_whitespace(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 200, "\xef\xbb\xbf \r\n\t{\"ok\":true,\"result\":true}");
	assert_int_equal(r.outcome, TG_OK);
	tg_reply_free(&r);
}

/* ---- the error table ------------------------------------------------- */

static void test_bad_html(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: can't parse entities: Unsupported start tag "
		"\\\"br\\\" at byte offset 12"), TG_BAD_HTML);
	/* case-insensitive */
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: CAN'T PARSE ENTITIES: x"), TG_BAD_HTML);
}

static void test_too_long(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message is too long"), TG_TOO_LONG);
}

static void test_chat_not_found(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: chat not found"), TG_CHAT_GONE);
}

static void test_migrated_exact_id(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 400,
		 "{\"ok\":false,\"error_code\":400,\"description\":\"Bad "
		 "Request: group chat was upgraded to a supergroup chat\","
		 "\"parameters\":{\"migrate_to_chat_id\":-1001234567890}}");
	assert_int_equal(r.outcome, TG_MIGRATED);
	assert_true(r.migrate_to == CHAT_SUPERGROUP);
	tg_reply_free(&r);
}

static void test_migrate_id_unusable(void **state)
{
	struct tg_reply r;

	(void)state;
	/* a migrate id that is no int64 is ignored, not cast (UB) */
	classify(&r, 400,
		 "{\"ok\":false,\"error_code\":400,\"description\":\"Bad "
		 "Request: group chat was upgraded to a supergroup chat\","
		 "\"parameters\":{\"migrate_to_chat_id\":1e300}}");
	assert_int_equal(r.migrate_to, 0);
	assert_int_equal(r.outcome, TG_CHAT_GONE);
	tg_reply_free(&r);

	classify(&r, 400,
		 "{\"ok\":false,\"error_code\":400,\"description\":\"Bad "
		 "Request: x\",\"parameters\":{\"migrate_to_chat_id\":-1.5}}");
	assert_int_equal(r.migrate_to, 0);
	assert_int_equal(r.outcome, TG_BAD_REQUEST);
	tg_reply_free(&r);
}

static void test_thread_gone(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message thread not found"), TG_THREAD_GONE);
}

static void test_not_modified(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message is not modified: specified new message "
		"content and reply markup are exactly the same as a current "
		"content and reply markup of the message"), TG_NOT_MODIFIED);
}

static void test_message_gone(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message to edit not found"), TG_MSG_GONE);
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message to reply not found"), TG_MSG_GONE);
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message can't be edited"), TG_MSG_GONE);
}

static void test_bad_request(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: strings must be encoded in UTF-8"),
		TG_BAD_REQUEST);
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: message text is empty"), TG_BAD_REQUEST);
	assert_int_equal(error_outcome(400, 400,
		"Bad Request: BUTTON_DATA_INVALID"), TG_BAD_REQUEST);
	assert_int_equal(error_outcome(404, 404, "Not Found"),
			 TG_BAD_REQUEST);
}

static void test_unauthorized(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(401, 401, "Unauthorized"),
			 TG_UNAUTHORIZED);
}

static void test_forbidden(void **state)
{
	static const char *const why[] = {
		"Forbidden: bot was blocked by the user",
		"Forbidden: bot was kicked from the supergroup chat",
		"Forbidden: user is deactivated",
		"Forbidden: not enough rights to send text messages to the chat",
		"Forbidden: bot is not a member of the channel chat",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(why); i++)
		assert_int_equal(error_outcome(403, 403, why[i]), TG_CHAT_GONE);
}

static void test_conflicts(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(409, 409,
		"Conflict: terminated by other getUpdates request; make sure "
		"that only one bot instance is running"), TG_CONFLICT_POLL);
	assert_int_equal(error_outcome(409, 409,
		"Conflict: can't use getUpdates method while webhook is "
		"active; use deleteWebhook to delete the webhook first"),
		TG_CONFLICT_WEBHOOK);
	assert_int_equal(error_outcome(409, 409, "Conflict: something new"),
			 TG_CONFLICT_POLL);
}

static void test_rate_limited(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 429,
		 "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many "
		 "Requests: retry after 17\",\"parameters\":{\"retry_after\":"
		 "17}}");
	assert_int_equal(r.outcome, TG_RATE_LIMITED);
	assert_int_equal(r.retry_after, 17);
	tg_reply_free(&r);
}

static void test_server_errors_json(void **state)
{
	(void)state;
	assert_int_equal(error_outcome(500, 500, "Internal Server Error"),
			 TG_TRANSIENT);
	assert_int_equal(error_outcome(502, 502, "Bad Gateway"),
			 TG_TRANSIENT);
	/* error_code decides even when the HTTP status says otherwise */
	assert_int_equal(error_outcome(200, 520, "Unknown error"),
			 TG_TRANSIENT);
}

/* ---- replies that are not a Bot API object --------------------------- */

static void test_nginx_html_502(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 502,
		 "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
		 "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
		 "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n");
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_null(r.json);
	assert_non_null(strstr(r.description, "502"));
	assert_non_null(strstr(r.description, "non-JSON"));
	tg_reply_free(&r);
}

static void test_empty_504(void **state)
{
	struct tg_reply r;

	(void)state;
	tg_classify(&r, 0, NULL, 504, NULL, 0);
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_non_null(strstr(r.description, "504"));
	tg_classify(&r, 0, NULL, 504, "", 0);
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_null(r.json);
}

static void test_garbage_binary_200(void **state)
{
	static const char bytes[] = { '{', 0, '\xff', '"', 'o', 'k', 0,
				      '\x80', ':', 't', 'r' };
	struct tg_reply r;
	char *body;

	(void)state;
	/* exactly sized, unterminated: ASan catches any overread */
	body = malloc(sizeof(bytes));
	assert_non_null(body);
	memcpy(body, bytes, sizeof(bytes));
	tg_classify(&r, 0, NULL, 200, body, sizeof(bytes));
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_null(r.json);
	free(body);
}

static void test_truncated_json(void **state)
{
	static const char full[] = "{\"ok\":true,\"result\":{\"message_id\":1}}";
	struct tg_reply r;
	char *body;
	size_t n;

	(void)state;
	/* every strict prefix is transient, read without a terminator */
	for (n = 1; n < sizeof(full) - 1; n++) {
		body = malloc(n);
		assert_non_null(body);
		memcpy(body, full, n);
		tg_classify(&r, 0, NULL, 200, body, n);
		assert_int_equal(r.outcome, TG_TRANSIENT);
		assert_null(r.json);
		free(body);
	}
	tg_classify(&r, 0, NULL, 200, full, sizeof(full) - 1);
	assert_int_equal(r.outcome, TG_OK);
	tg_reply_free(&r);
}

static void test_wrong_shapes(void **state)
{
	static const char *const bodies[] = {
		"[{\"ok\":true}]",
		"{\"result\":true}",
		"{\"ok\":\"true\",\"result\":true}",
		"{\"ok\":1,\"result\":true}",
		"{\"ok\":null}",
	};
	struct tg_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(bodies); i++) {
		classify(&r, 200, bodies[i]);
		assert_int_equal(r.outcome, TG_TRANSIENT);
		assert_null(r.json);
		assert_non_null(strstr(r.description, "200"));
	}
}

static void test_non_json_401_429(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 401, "<html>401 Authorization Required</html>");
	assert_int_equal(r.outcome, TG_UNAUTHORIZED);
	classify(&r, 429, "Too Many Requests");
	assert_int_equal(r.outcome, TG_RATE_LIMITED);
	assert_int_equal(r.retry_after, 5);
	classify(&r, 404, "<html>Not Found</html>");
	assert_int_equal(r.outcome, TG_TRANSIENT);
}

static void test_error_code_fallback(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 403, "{\"ok\":false,\"description\":\"Forbidden\"}");
	assert_int_equal(r.error_code, 403);
	assert_int_equal(r.outcome, TG_CHAT_GONE);
	tg_reply_free(&r);

	/* no code at all and no description: retry, do not drop */
	classify(&r, 200, "{\"ok\":false}");
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_true(strlen(r.description) > 0);
	tg_reply_free(&r);

	/* absurd codes saturate rather than overflow */
	classify(&r, 200, "{\"ok\":false,\"error_code\":1e300}");
	assert_int_equal(r.outcome, TG_TRANSIENT);
	tg_reply_free(&r);
	classify(&r, 200, "{\"ok\":false,\"error_code\":-1e300}");
	assert_int_equal(r.outcome, TG_TRANSIENT);
	tg_reply_free(&r);
}

/* ---- descriptions ---------------------------------------------------- */

static void test_huge_description_truncated(void **state)
{
	struct tg_reply r;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "{\"ok\":false,\"error_code\":400,"
				    "\"description\":\"Bad Request: "), 0);
	/* 3-byte characters so a byte cut would split one */
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_printf(&b, "\xe2\x82\xac"), 0);
	assert_int_equal(buf_printf(&b, "\"}"), 0);
	tg_classify(&r, 0, NULL, 400, b.data, b.len);
	assert_int_equal(r.outcome, TG_BAD_REQUEST);
	assert_true(strlen(r.description) < sizeof(r.description));
	assert_true(strlen(r.description) > sizeof(r.description) - 5);
	assert_true(clean_text(r.description));
	assert_memory_equal(r.description, "Bad Request: ", 13);
	tg_reply_free(&r);
	buf_free(&b);
}

static void test_description_cleaned_and_redacted(void **state)
{
	struct tg_reply r;

	(void)state;
	classify(&r, 400,
		 "{\"ok\":false,\"error_code\":400,\"description\":\"Bad\\n"
		 "Request\\u0001: \\u00e9 \xff\xfe see https://api.telegram.org/"
		 "bot123456:AAHsecretSECRET-_x/sendMessage\"}");
	assert_int_equal(r.outcome, TG_BAD_REQUEST);
	assert_true(clean_text(r.description));
	assert_null(strstr(r.description, "secret"));
	assert_non_null(strstr(r.description, "bot123456:***"));
	assert_non_null(strstr(r.description, "\xc3\xa9")); /* é kept */
	tg_reply_free(&r);
}

/* ---- retry_after ----------------------------------------------------- */

static int retry_for(const char *params, const char *desc)
{
	struct tg_reply r;
	char body[512];
	int v;

	snprintf(body, sizeof(body),
		 "{\"ok\":false,\"error_code\":429,\"description\":\"%s\"%s%s}",
		 desc, params ? ",\"parameters\":" : "", params ? params : "");
	classify(&r, 429, body);
	assert_int_equal(r.outcome, TG_RATE_LIMITED);
	v = r.retry_after;
	tg_reply_free(&r);
	return v;
}

static void test_retry_after_missing_zero_negative(void **state)
{
	(void)state;
	assert_int_equal(retry_for(NULL, "Too Many Requests"), 5);
	assert_int_equal(retry_for("{}", "Too Many Requests"), 5);
	assert_int_equal(retry_for("{\"retry_after\":0}",
				   "Too Many Requests"), 5);
	assert_int_equal(retry_for("{\"retry_after\":-30}",
				   "Too Many Requests"), 5);
	assert_int_equal(retry_for("{\"retry_after\":\"30\"}",
				   "Too Many Requests"), 5);
	assert_int_equal(retry_for("[1]", "Too Many Requests"), 5);
}

static void test_retry_after_huge(void **state)
{
	int v;

	(void)state;
	assert_int_equal(retry_for("{\"retry_after\":3600}", "x"), 3600);
	v = retry_for("{\"retry_after\":1e300}", "x");
	assert_true(v >= 3600 && v <= TG_RETRY_AFTER_MAX);
	v = retry_for("{\"retry_after\":99999999999}", "x");
	assert_true(v >= 3600 && v <= TG_RETRY_AFTER_MAX);
	v = retry_for(NULL, "retry after 99999999999999999999999");
	assert_true(v >= 3600 && v <= TG_RETRY_AFTER_MAX);
}

static void test_retry_after_from_description(void **state)
{
	(void)state;
	assert_int_equal(retry_for(NULL, "Too Many Requests: retry after 42"),
			 42);
	assert_int_equal(retry_for("{\"retry_after\":0}",
				   "Too Many Requests: Retry After 7"), 7);
	/* parameters win over the text */
	assert_int_equal(retry_for("{\"retry_after\":3}",
				   "Too Many Requests: retry after 42"), 3);
	assert_int_equal(retry_for(NULL, "Too Many Requests: retry after x"),
			 5);
}

/* ---- transfer failures ----------------------------------------------- */

static void test_curl_error_redacted(void **state)
{
	struct tg_reply r;

	(void)state;
	/* a body that would parse must be ignored when the transfer failed */
	tg_classify(&r, 28,
		    "Failed to connect to https://api.telegram.org/bot123456:"
		    "AAH-secret/getUpdates port 443 after 10000 ms: Timeout",
		    0, "{\"ok\":true}", 11);
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_null(r.json);
	assert_null(strstr(r.description, "AAH-secret"));
	assert_null(strstr(r.description, "secret"));
	assert_non_null(strstr(r.description, "bot123456:***"));
	assert_non_null(strstr(r.description, "Timeout"));
}

static void test_curl_error_no_text(void **state)
{
	struct tg_reply r;

	(void)state;
	tg_classify(&r, 7, NULL, 0, NULL, 0);
	assert_int_equal(r.outcome, TG_TRANSIENT);
	assert_non_null(strstr(r.description, "curl error 7"));
	tg_classify(&r, 56, "", 0, NULL, 0);
	assert_non_null(strstr(r.description, "curl error 56"));
}

/* Pseudo-random bytes and mutated replies: never crash, always sane. */
static void test_random_bodies(void **state)
{
	static const char seed[] =
		"{\"ok\":false,\"error_code\":429,\"description\":\"retry after"
		" 3\",\"parameters\":{\"retry_after\":3,\"migrate_to_chat_id\":"
		"-1001234567890}}";
	struct tg_reply r;
	uint32_t x = 2463534242u;
	char *body;
	size_t n, i;
	int round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		n = x % (sizeof(seed) + 8);
		body = malloc(n ? n : 1);
		assert_non_null(body);
		for (i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			body[i] = (x % 8 == 0 || i >= sizeof(seed) - 1) ?
					  (char)(x >> 8) : seed[i];
		}
		tg_classify(&r, 0, NULL, (long)(x % 600), body, n);
		assert_true((unsigned)r.outcome < TG_OUTCOME_COUNT);
		assert_true(clean_text(r.description));
		if (r.outcome == TG_RATE_LIMITED)
			assert_true(r.retry_after >= 1);
		tg_reply_free(&r);
		free(body);
	}
}

static void test_outcome_names(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < TG_OUTCOME_COUNT; i++) {
		assert_non_null(tg_outcome_name(i));
		assert_string_not_equal(tg_outcome_name(i), "unknown");
		for (j = 0; j < i; j++)
			assert_string_not_equal(tg_outcome_name(i),
						tg_outcome_name(j));
	}
	assert_string_equal(tg_outcome_name(TG_OK), "ok");
	assert_string_equal(tg_outcome_name(TG_MSG_GONE), "message-gone");
	assert_string_equal(tg_outcome_name(TG_OUTCOME_COUNT), "unknown");
	assert_string_equal(tg_outcome_name((enum tg_outcome)-1), "unknown");
}

/* ---- request bodies -------------------------------------------------- */

static void test_body_send_full(void **state)
{
	cJSON *j, *lp, *rp, *rm;
	char *s;

	(void)state;
	s = tg_body_send(CHAT_SUPERGROUP, 7, "<b>disk</b> full", 1, 1, 1, 55,
			 "{\"inline_keyboard\":[[{\"text\":\"Ack\","
			 "\"callback_data\":\"ack:1\"}]]}");
	assert_non_null(s);
	/* printed as an integer, never as a double or with an exponent */
	assert_non_null(strstr(s, "\"chat_id\":-1001234567890"));
	j = parse_body(s);
	assert_true(num_at(j, "chat_id") == (double)CHAT_SUPERGROUP);
	assert_int_equal(num_at(j, "message_thread_id"), 7);
	assert_string_equal(str_at(j, "text"), "<b>disk</b> full");
	assert_string_equal(str_at(j, "parse_mode"), "HTML");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j,
				 "disable_notification")));
	lp = cJSON_GetObjectItemCaseSensitive(j, "link_preview_options");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lp,
				 "is_disabled")));
	rp = cJSON_GetObjectItemCaseSensitive(j, "reply_parameters");
	assert_int_equal(num_at(rp, "message_id"), 55);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rp,
				 "allow_sending_without_reply")));
	rm = cJSON_GetObjectItemCaseSensitive(j, "reply_markup");
	assert_true(cJSON_IsObject(rm));
	assert_string_equal(str_at(cJSON_GetArrayItem(cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(rm, "inline_keyboard"), 0), 0),
		"callback_data"), "ack:1");
	cJSON_Delete(j);
}

static void test_body_send_minimal(void **state)
{
	cJSON *j;

	(void)state;
	j = parse_body(tg_body_send(42, 0, "hi", 0, 0, 0, 0, NULL));
	assert_int_equal(num_at(j, "chat_id"), 42);
	assert_string_equal(str_at(j, "text"), "hi");
	assert_int_equal(cJSON_GetArraySize(j), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "parse_mode"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "message_thread_id"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "reply_markup"));
	cJSON_Delete(j);
}

static void test_body_exact_ids(void **state)
{
	char expect[64];
	cJSON *j;
	char *s;

	(void)state;
	s = tg_body_send(MAX_EXACT, 0, "x", 0, 0, 0, -MAX_EXACT, NULL);
	assert_non_null(s);
	snprintf(expect, sizeof(expect), "\"chat_id\":%" PRId64, MAX_EXACT);
	assert_non_null(strstr(s, expect));
	j = parse_body(s);
	assert_true((int64_t)num_at(j, "chat_id") == MAX_EXACT);
	assert_true((int64_t)num_at(cJSON_GetObjectItemCaseSensitive(j,
			"reply_parameters"), "message_id") == -MAX_EXACT);
	cJSON_Delete(j);

	/* beyond 2^53 the text is still exact */
	s = tg_body_edit(INT64_MIN, INT64_MAX, "x", 0, 0, NULL);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"chat_id\":-9223372036854775808"));
	assert_non_null(strstr(s, "\"message_id\":9223372036854775807"));
	free(s);
}

static void test_body_bad_markup(void **state)
{
	(void)state;
	assert_null(tg_body_send(1, 0, "x", 0, 0, 0, 0, "{"));
	assert_null(tg_body_send(1, 0, "x", 0, 0, 0, 0, "[1,2]"));
	/* trailing bytes must not smuggle in fields */
	assert_null(tg_body_send(1, 0, "x", 0, 0, 0, 0,
				 "{}, \"chat_id\":666"));
	assert_null(tg_body_edit(1, 2, "x", 0, 0, "nope"));
}

static void test_body_edit(void **state)
{
	cJSON *j;

	(void)state;
	j = parse_body(tg_body_edit(CHAT_SUPERGROUP, 4711, "<i>resolved</i>",
				    1, 1, "{\"inline_keyboard\":[]}"));
	assert_true(num_at(j, "chat_id") == (double)CHAT_SUPERGROUP);
	assert_int_equal(num_at(j, "message_id"), 4711);
	assert_string_equal(str_at(j, "parse_mode"), "HTML");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j,
			"link_preview_options"));
	assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j,
			"reply_markup")));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "disable_notification"));
	cJSON_Delete(j);

	j = parse_body(tg_body_edit(5, 6, "plain", 0, 0, NULL));
	assert_int_equal(cJSON_GetArraySize(j), 3);
	cJSON_Delete(j);
}

static void test_body_answer_callback(void **state)
{
	cJSON *j;

	(void)state;
	j = parse_body(tg_body_answer_callback("4382bfdwdsb323b2d9", "Acked"));
	assert_string_equal(str_at(j, "callback_query_id"),
			    "4382bfdwdsb323b2d9");
	assert_string_equal(str_at(j, "text"), "Acked");
	cJSON_Delete(j);

	j = parse_body(tg_body_answer_callback("q\"1\\", NULL));
	assert_string_equal(str_at(j, "callback_query_id"), "q\"1\\");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "text"));
	cJSON_Delete(j);
}

static void test_body_get_updates(void **state)
{
	const cJSON *au;
	cJSON *j;
	char *s;

	(void)state;
	s = tg_body_get_updates(INT64_C(900000000001), 30, 100);
	assert_non_null(strstr(s, "\"offset\":900000000001"));
	j = parse_body(s);
	assert_true((int64_t)num_at(j, "offset") == INT64_C(900000000001));
	assert_int_equal(num_at(j, "timeout"), 30);
	assert_int_equal(num_at(j, "limit"), 100);
	au = cJSON_GetObjectItemCaseSensitive(j, "allowed_updates");
	assert_int_equal(cJSON_GetArraySize(au), 2);
	assert_string_equal(cJSON_GetArrayItem(au, 0)->valuestring, "message");
	assert_string_equal(cJSON_GetArrayItem(au, 1)->valuestring,
			    "callback_query");
	cJSON_Delete(j);

	j = parse_body(tg_body_get_updates(0, 0, 0));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "offset"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "timeout"));
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "limit"));
	assert_int_equal(cJSON_GetArraySize(j), 1);
	cJSON_Delete(j);
}

static void test_body_set_commands(void **state)
{
	static const char *const names[] = { "status", "alerts", "retry_now" };
	static const char *const descs[] = { "Queue and limits",
					     "Recent alerts",
					     "Retry failed deliveries now" };
	const cJSON *cmds, *c;
	cJSON *j;
	size_t i;

	(void)state;
	j = parse_body(tg_body_set_commands(names, descs, ARRAY_LEN(names)));
	assert_int_equal(cJSON_GetArraySize(j), 1);
	cmds = cJSON_GetObjectItemCaseSensitive(j, "commands");
	assert_true(cJSON_IsArray(cmds));
	assert_int_equal(cJSON_GetArraySize(cmds), ARRAY_LEN(names));
	for (i = 0; i < ARRAY_LEN(names); i++) {
		c = cJSON_GetArrayItem(cmds, (int)i);
		assert_int_equal(cJSON_GetArraySize(c), 2);
		assert_string_equal(str_at(c, "command"), names[i]);
		assert_string_equal(str_at(c, "description"), descs[i]);
	}
	cJSON_Delete(j);

	j = parse_body(tg_body_set_commands(NULL, NULL, 0));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				 j, "commands")), 0);
	cJSON_Delete(j);
}

static void test_markup_buttons(void **state)
{
	static const char *const labels[] = { "Ack", "Silence 1h" };
	static const char *const data[] = { "ack:17", "mute:17:3600" };
	const cJSON *kb, *row;
	cJSON *j;
	char *s, *body;

	(void)state;
	s = tg_markup_buttons(labels, data, 2);
	assert_non_null(s);
	/* it is what tg_body_send accepts as reply_markup */
	body = tg_body_send(1, 0, "x", 0, 0, 0, 0, s);
	assert_non_null(body);
	free(body);
	j = parse_body(s);
	kb = cJSON_GetObjectItemCaseSensitive(j, "inline_keyboard");
	assert_int_equal(cJSON_GetArraySize(kb), 1);
	row = cJSON_GetArrayItem(kb, 0);
	assert_int_equal(cJSON_GetArraySize(row), 2);
	assert_string_equal(str_at(cJSON_GetArrayItem(row, 1), "text"),
			    "Silence 1h");
	assert_string_equal(str_at(cJSON_GetArrayItem(row, 1),
				   "callback_data"), "mute:17:3600");
	cJSON_Delete(j);
}

static void test_markup_callback_limits(void **state)
{
	const char *labels[] = { "A", "B" };
	const char *data[2];
	char d64[65], d65[66];
	char *s;

	(void)state;
	memset(d64, 'x', 64);
	d64[64] = '\0';
	memset(d65, 'y', 65);
	d65[65] = '\0';
	data[0] = "ok";
	data[1] = d64;
	s = tg_markup_buttons(labels, data, 2);
	assert_non_null(s);
	assert_non_null(strstr(s, d64));
	free(s);
	data[1] = d65;
	assert_null(tg_markup_buttons(labels, data, 2));
	data[1] = "";
	assert_null(tg_markup_buttons(labels, data, 2));
	data[1] = NULL;
	assert_null(tg_markup_buttons(labels, data, 2));

	/* no buttons: an empty keyboard, which removes them on edit */
	s = tg_markup_buttons(NULL, NULL, 0);
	assert_non_null(s);
	assert_string_equal(s, "{\"inline_keyboard\":[]}");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_send_message_id),
		cmocka_unit_test(test_ok_edit_message_id),
		cmocka_unit_test(test_ok_result_true_and_updates),
		cmocka_unit_test(test_bom_and_whitespace),
		cmocka_unit_test(test_bad_html),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_chat_not_found),
		cmocka_unit_test(test_migrated_exact_id),
		cmocka_unit_test(test_migrate_id_unusable),
		cmocka_unit_test(test_thread_gone),
		cmocka_unit_test(test_not_modified),
		cmocka_unit_test(test_message_gone),
		cmocka_unit_test(test_bad_request),
		cmocka_unit_test(test_unauthorized),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_rate_limited),
		cmocka_unit_test(test_server_errors_json),
		cmocka_unit_test(test_nginx_html_502),
		cmocka_unit_test(test_empty_504),
		cmocka_unit_test(test_garbage_binary_200),
		cmocka_unit_test(test_truncated_json),
		cmocka_unit_test(test_wrong_shapes),
		cmocka_unit_test(test_non_json_401_429),
		cmocka_unit_test(test_error_code_fallback),
		cmocka_unit_test(test_huge_description_truncated),
		cmocka_unit_test(test_description_cleaned_and_redacted),
		cmocka_unit_test(test_retry_after_missing_zero_negative),
		cmocka_unit_test(test_retry_after_huge),
		cmocka_unit_test(test_retry_after_from_description),
		cmocka_unit_test(test_curl_error_redacted),
		cmocka_unit_test(test_curl_error_no_text),
		cmocka_unit_test(test_random_bodies),
		cmocka_unit_test(test_outcome_names),
		cmocka_unit_test(test_body_send_full),
		cmocka_unit_test(test_body_send_minimal),
		cmocka_unit_test(test_body_exact_ids),
		cmocka_unit_test(test_body_bad_markup),
		cmocka_unit_test(test_body_edit),
		cmocka_unit_test(test_body_answer_callback),
		cmocka_unit_test(test_body_get_updates),
		cmocka_unit_test(test_body_set_commands),
		cmocka_unit_test(test_markup_buttons),
		cmocka_unit_test(test_markup_callback_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
