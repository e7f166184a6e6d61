/*
 * dispatch.h - which message goes to Telegram next.
 *
 * For every destination chat, dispatch takes the due deliveries from the
 * store (most severe first), waits for the rate limiter and the circuit
 * breaker, packs a backlog into one message when the chat's rate cannot
 * keep up, sends, and records every outcome on the delivery rows
 * (TELEGRAM.md's error table). Replies to operators have their own queue
 * that goes ahead of the alert backlog.
 */
#ifndef OPSBOT_DISPATCH_H
#define OPSBOT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct dispatch;
struct cJSON;

struct dispatch *dispatch_new(struct daemon *d);
void dispatch_free(struct dispatch *ds);

/* After a config reload: picks up new destination chats. */
void dispatch_reload(struct dispatch *ds);

/* Starts every send that is due and allowed now. */
void dispatch_run(struct dispatch *ds);
/* Earliest monotonic time at which dispatch_run may have work (INT64_MAX
 * when idle). */
int64_t dispatch_next(struct dispatch *ds);
/* Sends in flight (alerts and replies). */
int dispatch_inflight(const struct dispatch *ds);

/* The id alerts for chat go to now (a group upgraded to a supergroup
 * gets a new id, remembered in the store). */
int64_t dispatch_chat_id(const struct dispatch *ds, int64_t chat);

/* Operator-facing messages, queued ahead of alerts (bounded queue: 0 ok,
 * -1 full). html is copied; markup is a reply_markup JSON or NULL. */
int dispatch_reply(struct dispatch *ds, int64_t chat, int64_t thread,
		   const char *html, const char *markup, int64_t reply_to);
int dispatch_edit(struct dispatch *ds, int64_t chat, int64_t message_id,
		  const char *html, const char *markup);
int dispatch_answer_callback(struct dispatch *ds, const char *callback_id,
			     const char *text);
/* A silent note to every default chat (outage summaries, 429 caps). */
void dispatch_notify(struct dispatch *ds, const char *html);

/* /retry_now: failed destinations are tried again and an open breaker
 * probes at once. */
void dispatch_retry_now(struct dispatch *ds);

/* Facts for /status: destinations that failed, send queue. */
void dispatch_status(struct dispatch *ds, struct cJSON *obj);

/* Re-renders the message of alert id in every chat it was sent to (after
 * an ack): edits each single-alert message. */
void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id);

#endif
