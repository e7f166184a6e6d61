/*
 * tgapi.h - the Bot API's wire format, without any I/O: request bodies
 * (JSON, built with cJSON) and classification of replies into what the
 * caller must do (the Bot API's error replies; README.md's troubleshooting
 * table).
 *
 * tg_classify() accepts any bytes at all (it is a fuzz target): a reply
 * that is not JSON, or JSON of the wrong shape, is a transient error.
 */
#ifndef OPSBOT_TGAPI_H
#define OPSBOT_TGAPI_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum tg_outcome {
	TG_OK = 0,
	TG_NOT_MODIFIED,     /* edit with identical content: success */
	TG_TRANSIENT,        /* network, timeout, 5xx, non-JSON: back off */
	TG_RATE_LIMITED,     /* 429: wait retry_after */
	TG_BAD_HTML,         /* 400 can't parse entities: send plain text */
	TG_TOO_LONG,         /* 400 message is too long: split */
	TG_CHAT_GONE,        /* 400 chat not found, 403 blocked/kicked/...:
				permanent for that chat */
	TG_MIGRATED,         /* 400 + migrate_to_chat_id */
	TG_THREAD_GONE,      /* 400 message thread not found */
	TG_UNAUTHORIZED,     /* 401: bad token, stop sending */
	TG_CONFLICT_POLL,    /* 409 terminated by other getUpdates request */
	TG_CONFLICT_WEBHOOK, /* 409 webhook is active */
	TG_MSG_GONE,         /* 400 message to edit/reply not found */
	TG_BAD_REQUEST,      /* any other 4xx: permanent for that payload */
	TG_OUTCOME_COUNT
};

struct tg_reply {
	enum tg_outcome outcome;
	long http_status;
	int error_code;         /* Telegram's error_code, 0 if none */
	int retry_after;        /* s, for TG_RATE_LIMITED (>= 1) */
	int curl_code;          /* CURLcode of the transfer; 0 = completed */
	int64_t migrate_to;     /* for TG_MIGRATED */
	int64_t message_id;     /* result.message_id when the result has one */
	char description[256];  /* Telegram's description or our reason */
	struct cJSON *json;     /* the whole parsed reply when it parsed;
				   owned, freed by tg_reply_free */
};

/* curl_code is CURLcode (0 = transfer ok); curl_err is curl's error
 * buffer text or NULL. Fills *r; never fails. */
void tg_classify(struct tg_reply *r, int curl_code, const char *curl_err,
		 long http_status, const char *body, size_t len);
void tg_reply_free(struct tg_reply *r);
const char *tg_outcome_name(enum tg_outcome o);

/* Request bodies. Each returns a malloc'd JSON string (caller frees) or
 * NULL on allocation failure. Zero / NULL arguments are left out. */
char *tg_body_send(int64_t chat, int64_t thread, const char *text, int html,
		   int silent, int no_preview, int64_t reply_to,
		   const char *reply_markup_json);
char *tg_body_edit(int64_t chat, int64_t message_id, const char *text,
		   int html, int no_preview, const char *reply_markup_json);
char *tg_body_answer_callback(const char *callback_id, const char *text);
char *tg_body_get_updates(int64_t offset, int timeout, int limit);
/* names/descriptions: n commands. */
char *tg_body_set_commands(const char *const *names,
			   const char *const *descriptions, size_t n);
/* Inline keyboard with one row of buttons (label, callback_data). */
char *tg_markup_buttons(const char *const *labels, const char *const *data,
			size_t n);

#endif
