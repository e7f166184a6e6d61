/*
 * tgapi.c - the Bot API's wire format without I/O: builds request bodies
 * and classifies replies (the Bot API's error replies; README.md's
 * troubleshooting table) into what the caller must do. tg_classify() is a fuzz target: it accepts any bytes.
 */
#include "bot/tgapi.h"
#include "bot/utf8.h"
#include "bot/util.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Used when a 429 carries no usable retry_after: Telegram's flood waits
 * are rarely shorter, and waiting a little too long is far cheaper than
 * hammering a chat that is already limited.
 */
#define TG_RETRY_AFTER_GUESS 5
/*
 * Upper bound on what we report. Telegram has sent waits of hours; the
 * dispatcher applies its own, smaller cap. This one only keeps the value
 * sane for arithmetic (s -> ms in int64 and beyond).
 */
#define TG_RETRY_AFTER_MAX (7 * 24 * 3600)

/* Longest callback_data Telegram accepts, in bytes. */
#define TG_CALLBACK_DATA_MAX 64

static const char *const outcome_names[TG_OUTCOME_COUNT] = {
	[TG_OK] = "ok",
	[TG_NOT_MODIFIED] = "not-modified",
	[TG_TRANSIENT] = "transient",
	[TG_RATE_LIMITED] = "rate-limited",
	[TG_BAD_HTML] = "bad-html",
	[TG_TOO_LONG] = "too-long",
	[TG_CHAT_GONE] = "chat-gone",
	[TG_MIGRATED] = "migrated",
	[TG_THREAD_GONE] = "thread-gone",
	[TG_UNAUTHORIZED] = "unauthorized",
	[TG_CONFLICT_POLL] = "conflict-poll",
	[TG_CONFLICT_WEBHOOK] = "conflict-webhook",
	[TG_MSG_GONE] = "message-gone",
	[TG_BAD_REQUEST] = "bad-request",
};

const char *tg_outcome_name(enum tg_outcome o)
{
	if ((unsigned)o >= TG_OUTCOME_COUNT || outcome_names[o] == NULL)
		return "unknown";
	return outcome_names[o];
}

void tg_reply_free(struct tg_reply *r)
{
	if (r == NULL)
		return;
	cJSON_Delete(r->json);
	r->json = NULL;
}

/*
 * Copies src into dst (size bytes) so that the result is safe to show
 * anywhere: one line (control characters become spaces), valid UTF-8
 * (bad bytes become '?', so it can be quoted in a Telegram message) and
 * never cut inside a character.
 */
static void copy_clean(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), i = 0, o = 0, k;

	while (i < n) {
		k = utf8_decode(src + i, n - i, NULL);
		if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			if (o + 1 >= size)
				break;
			dst[o++] = k == 0 ? '?' : ' ';
			i++;
			continue;
		}
		if (o + k >= size)
			break;
		memcpy(dst + o, s + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
}

/*
 * Sets r->description from text that came from outside (Telegram, curl).
 * Redaction runs on a full copy *before* truncation: cutting first could
 * leave a token prefix too short for redact_all() to recognise.
 */
static void set_description(struct tg_reply *r, const char *text)
{
	char *copy = strdup(text);

	if (copy == NULL) {
		str_copy(r->description, "(description lost: out of memory)",
			 sizeof(r->description));
		return;
	}
	/* Also the exact token (registered by main), bare or URL-encoded:
	 * a server may echo it in any form. */
	redact_all(copy);
	copy_clean(r->description, sizeof(r->description), copy);
	free(copy);
}

/* Our own reasons: they quote numbers, never text from outside. */
static void set_reason(struct tg_reply *r, const char *fmt, ...)
	ATTR_PRINTF(2, 3);

static void set_reason(struct tg_reply *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->description, sizeof(r->description), fmt, ap);
	va_end(ap);
}

/* Does the body start like a JSON object or array (after whitespace and a
 * UTF-8 BOM)? Content-Type is not trusted: proxies lie. */
static int looks_like_json(const char *body, size_t len)
{
	size_t i = 0;

	if (body == NULL)
		return 0;
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (body[i] == ' ' || body[i] == '\t' ||
			   body[i] == '\r' || body[i] == '\n'))
		i++;
	return i < len && (body[i] == '{' || body[i] == '[');
}

/*
 * int64 from a JSON number. cJSON stores numbers as doubles, exact up to
 * 2^53: enough for every Telegram id (user ids < 2^52, supergroup and
 * channel ids -100xxxxxxxxxx). Range and integrality are checked before the
 * cast because converting an out-of-range double is undefined behaviour.
 * Returns 0 when the item is not a usable integer.
 */
static int json_int64(const cJSON *item, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(item))
		return 0;
	d = item->valuedouble;
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return 0; /* also rejects NaN */
	if ((double)(int64_t)d != d)
		return 0;
	*out = (int64_t)d;
	return 1;
}

/* First "retry after N" in a description, or 0. */
static int retry_from_text(const char *desc)
{
	const char *p = strcasestr(desc, "retry after");
	long v = 0;

	if (p == NULL)
		return 0;
	p += strlen("retry after");
	while (*p == ' ')
		p++;
	while (*p >= '0' && *p <= '9' && v <= TG_RETRY_AFTER_MAX)
		v = v * 10 + (*p++ - '0');
	return (int)v;
}

static int clamp_retry(int64_t v)
{
	if (v < 1)
		return TG_RETRY_AFTER_GUESS;
	if (v > TG_RETRY_AFTER_MAX)
		return TG_RETRY_AFTER_MAX;
	return (int)v;
}

static int has(const char *desc, const char *needle)
{
	return strcasestr(desc, needle) != NULL;
}

static enum tg_outcome classify_400(const struct tg_reply *r)
{
	const char *d = r->description;

	if (r->migrate_to != 0)
		return TG_MIGRATED;
	if (has(d, "can't parse entities"))
		return TG_BAD_HTML;
	if (has(d, "message is too long"))
		return TG_TOO_LONG;
	if (has(d, "message is not modified"))
		return TG_NOT_MODIFIED;
	if (has(d, "message thread not found"))
		return TG_THREAD_GONE;
	if (has(d, "message to edit not found") ||
	    has(d, "message to reply not found") ||
	    has(d, "message can't be edited"))
		return TG_MSG_GONE;
	/* Permanent for the chat, not just for this payload: an upgraded
	 * group without the new id is as dead as a missing one. */
	if (has(d, "chat not found") || has(d, "not enough rights") ||
	    has(d, "have no rights to send") || has(d, "bot is not a member") ||
	    has(d, "group chat was upgraded"))
		return TG_CHAT_GONE;
	return TG_BAD_REQUEST;
}

static enum tg_outcome classify_error(struct tg_reply *r)
{
	int code = r->error_code;

	if (code == 429) {
		return TG_RATE_LIMITED;
	} else if (code == 400) {
		return classify_400(r);
	} else if (code == 401) {
		return TG_UNAUTHORIZED;
	} else if (code == 403) {
		/* blocked, kicked, deactivated, no rights, not a member,
		 * can't initiate conversation: all permanent for the chat */
		return TG_CHAT_GONE;
	} else if (code == 409) {
		if (has(r->description, "webhook is active"))
			return TG_CONFLICT_WEBHOOK;
		return TG_CONFLICT_POLL;
	} else if (code >= 400 && code < 500) {
		return TG_BAD_REQUEST;
	}
	/* >= 500, or an ok:false without a sensible code: nothing says it is
	 * permanent, so back off and retry rather than drop anything. */
	return TG_TRANSIENT;
}

#define FIELD(obj, name) cJSON_GetObjectItemCaseSensitive((obj), (name))

/* Reads an ok:false reply's fields into r, then classifies it. */
static void classify_failure(struct tg_reply *r, const cJSON *root)
{
	const cJSON *code = FIELD(root, "error_code");
	const cJSON *desc = FIELD(root, "description");
	const cJSON *params = FIELD(root, "parameters");
	const cJSON *ra = FIELD(params, "retry_after");
	int64_t v;

	/* valueint is saturated by cJSON, so this never overflows */
	if (cJSON_IsNumber(code))
		r->error_code = code->valueint;
	else if (r->http_status > 0 && r->http_status < 1000)
		r->error_code = (int)r->http_status;

	if (cJSON_IsString(desc) && desc->valuestring != NULL)
		set_description(r, desc->valuestring);
	else
		set_reason(r, "error_code %d without a description",
			   r->error_code);

	if (!json_int64(FIELD(params, "migrate_to_chat_id"), &r->migrate_to))
		r->migrate_to = 0;

	r->outcome = classify_error(r);
	if (r->outcome == TG_RATE_LIMITED) {
		if (cJSON_IsNumber(ra) && ra->valuedouble >= 1)
			v = ra->valueint;
		else
			v = retry_from_text(r->description);
		r->retry_after = clamp_retry(v);
	}
}

static void classify_success(struct tg_reply *r, const cJSON *root)
{
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
	int64_t id;

	r->outcome = TG_OK;
	/* sendMessage and editMessageText return the Message; others true */
	if (cJSON_IsObject(result) &&
	    json_int64(cJSON_GetObjectItemCaseSensitive(result, "message_id"),
		       &id))
		r->message_id = id;
}

/* No usable Bot API reply: decide from the HTTP status alone. */
static void classify_no_json(struct tg_reply *r, size_t len, int parsed)
{
	if (r->http_status == 401) {
		r->outcome = TG_UNAUTHORIZED;
	} else if (r->http_status == 429) {
		r->outcome = TG_RATE_LIMITED;
		r->retry_after = TG_RETRY_AFTER_GUESS;
	} else {
		r->outcome = TG_TRANSIENT;
	}
	if (parsed)
		set_reason(r, "HTTP %ld with an unexpected JSON reply",
			   r->http_status);
	else if (len == 0)
		set_reason(r, "HTTP %ld with an empty body", r->http_status);
	else
		set_reason(r, "HTTP %ld with a non-JSON body", r->http_status);
}

void tg_classify(struct tg_reply *r, int curl_code, const char *curl_err,
		 long http_status, const char *body, size_t len)
{
	cJSON *root = NULL, *ok;

	memset(r, 0, sizeof(*r));
	r->http_status = http_status;
	r->curl_code = curl_code;

	if (curl_code != 0) {
		r->outcome = TG_TRANSIENT;
		if (curl_err != NULL && curl_err[0] != '\0')
			set_description(r, curl_err);
		else
			set_reason(r, "transfer failed (curl error %d)",
				   curl_code);
		return;
	}
	if (looks_like_json(body, len))
		root = cJSON_ParseWithLength(body, len);
	ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
	if (!cJSON_IsObject(root) || !cJSON_IsBool(ok)) {
		classify_no_json(r, len, root != NULL);
		cJSON_Delete(root);
		return;
	}
	r->json = root;
	if (cJSON_IsTrue(ok))
		classify_success(r, root);
	else
		classify_failure(r, root);
}

/* ---- request bodies ---------------------------------------------------- */

/*
 * Adds an int64 as a raw number: cJSON would print it from a double, which
 * is exact only to 2^53 and may switch to an exponent. Printing it
 * ourselves is exact for the whole int64 range.
 */
static int add_int64(cJSON *obj, const char *name, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	return cJSON_AddRawToObject(obj, name, num) != NULL ? 0 : -1;
}

static int add_int64_opt(cJSON *obj, const char *name, int64_t v)
{
	return v != 0 ? add_int64(obj, name, v) : 0;
}

static int add_string_opt(cJSON *obj, const char *name, const char *s)
{
	if (s == NULL)
		return 0;
	return cJSON_AddStringToObject(obj, name, s) != NULL ? 0 : -1;
}

static int add_no_preview(cJSON *obj)
{
	cJSON *lp = cJSON_AddObjectToObject(obj, "link_preview_options");

	if (lp == NULL || cJSON_AddTrueToObject(lp, "is_disabled") == NULL)
		return -1;
	return 0;
}

/*
 * Adds reply_markup from a JSON string. It is parsed and the parsed object
 * inserted, rather than inserted raw: cJSON_Parse accepts trailing bytes,
 * so a raw insert of "{}, \"chat_id\":1" would inject fields. Anything
 * that is not a complete JSON object fails.
 */
static int add_markup(cJSON *obj, const char *json)
{
	cJSON *m;

	if (json == NULL)
		return 0;
	m = cJSON_ParseWithOpts(json, NULL, 1);
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(m);
		return -1;
	}
	if (!cJSON_AddItemToObject(obj, "reply_markup", m)) {
		cJSON_Delete(m);
		return -1;
	}
	return 0;
}

/* Prints and frees obj; NULL if anything failed while building it. */
static char *finish(cJSON *obj, int err)
{
	char *s = NULL;

	if (obj != NULL && err == 0)
		s = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return s;
}

/* Fields shared by sendMessage and editMessageText. */
static int add_text_opts(cJSON *o, const char *text, int html, int no_preview,
			 const char *markup)
{
	int err = 0;

	err |= add_string_opt(o, "text", text);
	if (html)
		err |= add_string_opt(o, "parse_mode", "HTML");
	if (no_preview)
		err |= add_no_preview(o);
	err |= add_markup(o, markup);
	return err;
}

char *tg_body_send(int64_t chat, int64_t thread, const char *text, int html,
		   int silent, int no_preview, int64_t reply_to,
		   const char *reply_markup_json)
{
	cJSON *o = cJSON_CreateObject(), *rp;
	int err = 0;

	if (o == NULL)
		return NULL;
	err |= add_int64_opt(o, "chat_id", chat);
	err |= add_int64_opt(o, "message_thread_id", thread);
	if (silent && cJSON_AddTrueToObject(o, "disable_notification") == NULL)
		err = -1;
	if (reply_to != 0) {
		/* an alert must go out even if what it answers was deleted */
		rp = cJSON_AddObjectToObject(o, "reply_parameters");
		if (rp == NULL || add_int64(rp, "message_id", reply_to) != 0 ||
		    cJSON_AddTrueToObject(rp, "allow_sending_without_reply") ==
			    NULL)
			err = -1;
	}
	err |= add_text_opts(o, text, html, no_preview, reply_markup_json);
	return finish(o, err);
}

char *tg_body_edit(int64_t chat, int64_t message_id, const char *text,
		   int html, int no_preview, const char *reply_markup_json)
{
	cJSON *o = cJSON_CreateObject();
	int err = 0;

	if (o == NULL)
		return NULL;
	err |= add_int64_opt(o, "chat_id", chat);
	err |= add_int64_opt(o, "message_id", message_id);
	err |= add_text_opts(o, text, html, no_preview, reply_markup_json);
	return finish(o, err);
}

char *tg_body_answer_callback(const char *callback_id, const char *text)
{
	cJSON *o = cJSON_CreateObject();
	int err = 0;

	if (o == NULL)
		return NULL;
	err |= add_string_opt(o, "callback_query_id", callback_id);
	err |= add_string_opt(o, "text", text);
	return finish(o, err);
}

char *tg_body_get_updates(int64_t offset, int timeout, int limit)
{
	static const char *const kinds[] = { "message", "callback_query" };
	cJSON *o = cJSON_CreateObject(), *au;
	int err = 0;

	if (o == NULL)
		return NULL;
	if (offset > 0)
		err |= add_int64(o, "offset", offset);
	if (timeout > 0 &&
	    cJSON_AddNumberToObject(o, "timeout", timeout) == NULL)
		err = -1;
	if (limit > 0 && cJSON_AddNumberToObject(o, "limit", limit) == NULL)
		err = -1;
	au = cJSON_CreateStringArray(kinds, (int)ARRAY_LEN(kinds));
	if (au == NULL || !cJSON_AddItemToObject(o, "allowed_updates", au)) {
		cJSON_Delete(au);
		err = -1;
	}
	return finish(o, err);
}

/* Appends {"a_name":a,"b_name":b} to arr. */
static int add_pair(cJSON *arr, const char *a_name, const char *a,
		    const char *b_name, const char *b)
{
	cJSON *item = cJSON_CreateObject();

	if (item == NULL)
		return -1;
	if (!cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		return -1;
	}
	if (cJSON_AddStringToObject(item, a_name, a) == NULL ||
	    cJSON_AddStringToObject(item, b_name, b) == NULL)
		return -1;
	return 0;
}

char *tg_body_set_commands(const char *const *names,
			   const char *const *descriptions, size_t n)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	int err = 0;
	size_t i;

	if (o == NULL)
		return NULL;
	arr = cJSON_AddArrayToObject(o, "commands");
	if (arr == NULL)
		err = -1;
	for (i = 0; i < n && err == 0; i++) {
		if (names[i] == NULL || descriptions[i] == NULL)
			err = -1;
		else
			err = add_pair(arr, "command", names[i], "description",
				       descriptions[i]);
	}
	return finish(o, err);
}

/* Zero buttons give an empty keyboard: on an edit it removes the buttons. */
char *tg_markup_buttons(const char *const *labels, const char *const *data,
			size_t n)
{
	cJSON *o = cJSON_CreateObject(), *kb, *row = NULL;
	int err = 0;
	size_t i, dlen;

	if (o == NULL)
		return NULL;
	kb = cJSON_AddArrayToObject(o, "inline_keyboard");
	if (kb == NULL)
		err = -1;
	if (err == 0 && n > 0) {
		row = cJSON_CreateArray();
		if (row == NULL || !cJSON_AddItemToArray(kb, row)) {
			cJSON_Delete(row);
			err = -1;
		}
	}
	for (i = 0; i < n && err == 0; i++) {
		if (labels[i] == NULL || data[i] == NULL)
			err = -1;
		else if ((dlen = strlen(data[i])) == 0 ||
			 dlen > TG_CALLBACK_DATA_MAX)
			err = -1; /* Telegram would reject the whole message */
		else
			err = add_pair(row, "text", labels[i], "callback_data",
				       data[i]);
	}
	return finish(o, err);
}
