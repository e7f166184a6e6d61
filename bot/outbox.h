/*
 * outbox.h - messages to operators (command replies, edits after an ack,
 * notes such as outage summaries, answers to button presses), queued
 * ahead of the alert backlog on the rate limiter's reply lane.
 *
 * Bounded (OUTBOX_MAX): a reply that does not fit is dropped with a
 * warning. Replies are dropped, not sent, when the turn that queued them
 * fails to commit (outbox_committed): an operator is never told of
 * something that did not happen. A reply that meets a 429 or a transient
 * error is tried again (OUTBOX_TRIES in all).
 */
#ifndef OPSBOT_OUTBOX_H
#define OPSBOT_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "bot/tgapi.h"
#include "bot/util.h"

#define OUTBOX_MAX 256
#define OUTBOX_TRIES 3

struct api;
struct chats;
struct config;
struct ratelimit;
struct stats;
struct tg;

struct outbox_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct tg *tg;
	struct ratelimit *rl;
	struct api *api;
	struct chats *chats;
	/* 1 while the alert side has a request in flight to chat: one
	 * request per chat at a time keeps messages in order. */
	int (*chat_busy)(void *arg, int64_t chat);
	/* What the answer means beyond this reply (429 blocks, breaker,
	 * 401): the alert side's accounting. sent_at 0: not a message. */
	void (*account)(void *arg, int64_t chat, int64_t sent_at,
			const struct tg_reply *r);
	void *arg;
};

struct outbox;

struct outbox *outbox_new(const struct outbox_deps *deps);
/* Messages still in flight are abandoned (their transfers are aborted
 * without calling back, and freed here). */
void outbox_free(struct outbox *ob);

/* Queue, sent after the turn's commit (0 ok, -1 full or out of memory).
 * html is copied; markup is a reply_markup JSON or NULL. */
int outbox_reply(struct outbox *ob, int64_t chat, int64_t thread,
		 const char *html, const char *markup, int64_t reply_to);
int outbox_edit(struct outbox *ob, int64_t chat, int64_t message_id,
		const char *html, const char *markup);
int outbox_answer_callback(struct outbox *ob, const char *callback_id,
			   const char *text);
/* A silent note to every default chat that has not failed. */
void outbox_notify(struct outbox *ob, const char *html);

/* Starts every queued message that its chat's reply lane allows. */
void outbox_run(struct outbox *ob);
/* Earliest monotonic time outbox_run has something to start. */
int64_t outbox_next(const struct outbox *ob);
/* 1 while a reply to chat is in flight. */
int outbox_busy(const struct outbox *ob, int64_t chat);
int outbox_inflight(const struct outbox *ob);
size_t outbox_queued(const struct outbox *ob);
/* After the turn's commit: the turn's messages become sendable, or are
 * dropped when the commit failed. */
void outbox_committed(struct outbox *ob, int ok);

#endif
