/*
 * outbox.c - the operators' messages: staged during a turn, queued after
 * its commit, sent on the reply lane. See outbox.h.
 */
#include "bot/outbox.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bot/api.h"
#include "bot/chats.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/pacing.h"
#include "bot/telegram.h"

enum out_kind { OUT_SEND, OUT_EDIT, OUT_ANSWER };

struct outmsg {
	struct outbox *ob;
	enum out_kind kind;
	int64_t chat, thread, message_id, reply_to;
	char *text;
	char *markup;
	char cbid[96];
	int tries;
	int silent;  /* a note: delivered without sound */
	int64_t sent_at;
	TAILQ_ENTRY(outmsg) link;
};

TAILQ_HEAD(outq, outmsg);

struct outbox {
	struct outbox_deps d;
	struct outq staged;  /* queued this turn, not yet committed */
	struct outq queue;   /* committed, waiting for their slot */
	struct outq flight;  /* requests in flight */
	size_t nstaged, nqueue;
	int inflight;
};

struct outbox *outbox_new(const struct outbox_deps *deps)
{
	struct outbox *ob = calloc(1, sizeof(*ob));

	if (ob == NULL)
		return NULL;
	ob->d = *deps;
	TAILQ_INIT(&ob->staged);
	TAILQ_INIT(&ob->queue);
	TAILQ_INIT(&ob->flight);
	return ob;
}

static void out_free(struct outmsg *o)
{
	free(o->text);
	free(o->markup);
	free(o);
}

static void q_free(struct outq *q)
{
	while (!TAILQ_EMPTY(q)) {
		struct outmsg *o = TAILQ_FIRST(q);

		TAILQ_REMOVE(q, o, link);
		out_free(o);
	}
}

void outbox_free(struct outbox *ob)
{
	if (ob == NULL)
		return;
	q_free(&ob->staged);
	q_free(&ob->queue);
	q_free(&ob->flight);
	free(ob);
}

static int out_push(struct outbox *ob, struct outmsg *o)
{
	if (ob->nstaged + ob->nqueue >= OUTBOX_MAX) {
		log_warnx("reply queue full; dropping a reply to chat %" PRId64,
			  o->chat);
		out_free(o);
		return -1;
	}
	TAILQ_INSERT_TAIL(&ob->staged, o, link);
	ob->nstaged++;
	return 0;
}

static struct outmsg *out_new(struct outbox *ob, enum out_kind kind,
			      int64_t chat, const char *text,
			      const char *markup)
{
	struct outmsg *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->ob = ob;
	o->kind = kind;
	o->chat = chat;
	o->text = text ? strdup(text) : NULL;
	o->markup = markup ? strdup(markup) : NULL;
	if ((text && o->text == NULL) || (markup && o->markup == NULL)) {
		out_free(o);
		return NULL;
	}
	return o;
}

int outbox_reply(struct outbox *ob, int64_t chat, int64_t thread,
		 const char *html, const char *markup, int64_t reply_to)
{
	struct outmsg *o = out_new(ob, OUT_SEND, chat, html, markup);

	if (o == NULL)
		return -1;
	o->thread = thread;
	o->reply_to = reply_to;
	return out_push(ob, o);
}

int outbox_edit(struct outbox *ob, int64_t chat, int64_t message_id,
		const char *html, const char *markup)
{
	struct outmsg *o = out_new(ob, OUT_EDIT, chat, html, markup);

	if (o == NULL)
		return -1;
	o->message_id = message_id;
	return out_push(ob, o);
}

int outbox_answer_callback(struct outbox *ob, const char *callback_id,
			   const char *text)
{
	struct outmsg *o = out_new(ob, OUT_ANSWER, 0, text, NULL);

	if (o == NULL)
		return -1;
	str_copy(o->cbid, callback_id, sizeof(o->cbid));
	return out_push(ob, o);
}

void outbox_notify(struct outbox *ob, const char *html)
{
	const struct config *c = ob->d.cfg;

	for (size_t i = 0; i < c->nchats; i++) {
		int64_t id = chats_resolve(ob->d.chats, c->chats[i]);

		struct outmsg *o;

		if (chats_failed(ob->d.chats, id) != NULL ||
		    (o = out_new(ob, OUT_SEND, id, html, NULL)) == NULL)
			continue;
		o->silent = 1;
		out_push(ob, o);
	}
}

void outbox_committed(struct outbox *ob, int ok)
{
	if (!ok) {
		if (ob->nstaged)
			log_warnx("dropping %zu message(s) to operators: the "
				  "turn they report on was not stored",
				  ob->nstaged);
		q_free(&ob->staged);
	} else {
		TAILQ_CONCAT(&ob->queue, &ob->staged, link);
		ob->nqueue += ob->nstaged;
	}
	ob->nstaged = 0;
}

int outbox_busy(const struct outbox *ob, int64_t chat)
{
	const struct outmsg *o;

	TAILQ_FOREACH(o, &ob->flight, link)
		if (o->kind != OUT_ANSWER && o->chat == chat)
			return 1;
	return 0;
}

int outbox_inflight(const struct outbox *ob)
{
	return ob->inflight;
}

size_t outbox_queued(const struct outbox *ob)
{
	return ob->nqueue + ob->nstaged;
}

static void on_out_done(void *arg, const struct tg_reply *r)
{
	struct outmsg *o = arg;
	struct outbox *ob = o->ob;

	TAILQ_REMOVE(&ob->flight, o, link);
	ob->inflight--;
	ob->d.account(ob->d.arg, o->kind == OUT_ANSWER ? 0 : o->chat,
		      o->sent_at, r);
	if ((r->outcome == TG_TRANSIENT || r->outcome == TG_RATE_LIMITED) &&
	    ++o->tries < OUTBOX_TRIES && o->kind != OUT_ANSWER) {
		/* first again, once the chat allows */
		TAILQ_INSERT_HEAD(&ob->queue, o, link);
		ob->nqueue++;
		return;
	}
	if (r->outcome != TG_OK && r->outcome != TG_NOT_MODIFIED)
		log_warnx("reply to chat %" PRId64 " not delivered: %s",
			  o->chat, r->description);
	out_free(o);
}

static char *out_body(const struct outmsg *o)
{
	switch (o->kind) {
	case OUT_SEND:
		return tg_body_send(o->chat, o->thread, o->text, 1, o->silent,
				    1, o->reply_to, o->markup);
	case OUT_EDIT:
		return tg_body_edit(o->chat, o->message_id, o->text, 1, 1,
				    o->markup);
	case OUT_ANSWER:
		return tg_body_answer_callback(o->cbid, o->text);
	}
	return NULL;
}

/* When o may start: answers are not messages (only a global 429 holds
 * them); a message waits for its chat's reply lane and for any request
 * already in flight to that chat. INT64_MAX: only an answer frees it. */
static int64_t out_when(const struct outbox *ob, const struct outmsg *o)
{
	int64_t now = ob->d.clk->now;

	if (o->kind == OUT_ANSWER)
		return ratelimit_blocked_until(ob->d.rl, 0);
	if (outbox_busy(ob, o->chat) || ob->d.chat_busy(ob->d.arg, o->chat))
		return INT64_MAX;
	return ratelimit_when(ob->d.rl, o->chat, LANE_REPLY, now);
}

static void out_start(struct outbox *ob, struct outmsg *o)
{
	static const char *const methods[] = { "sendMessage",
					       "editMessageText",
					       "answerCallbackQuery" };
	int64_t now = ob->d.clk->now;

	if (o->kind != OUT_ANSWER) {
		ratelimit_sent(ob->d.rl, o->chat, now);
		o->sent_at = now;
	}
	if (tg_call(ob->d.tg, methods[o->kind], out_body(o), 0, on_out_done,
		    o) != 0) {
		/* out of memory: the reply is lost, Telegram is not at fault */
		log_error("could not start a reply to chat %" PRId64, o->chat);
		if (o->kind != OUT_ANSWER)
			ratelimit_unsent(ob->d.rl, o->chat, now);
		out_free(o);
		return;
	}
	api_begin(ob->d.api, API_SEND);
	TAILQ_INSERT_TAIL(&ob->flight, o, link);
	ob->inflight++;
}

void outbox_run(struct outbox *ob)
{
	struct outmsg *o, *next;
	int64_t now = ob->d.clk->now;

	for (o = TAILQ_FIRST(&ob->queue); o != NULL; o = next) {
		next = TAILQ_NEXT(o, link);
		if (api_gate(ob->d.api, API_SEND) > now)
			return;
		if (out_when(ob, o) > now)
			continue;
		TAILQ_REMOVE(&ob->queue, o, link);
		ob->nqueue--;
		out_start(ob, o);
	}
}

int64_t outbox_next(const struct outbox *ob)
{
	const struct outmsg *o;
	int64_t t = INT64_MAX, gate;

	TAILQ_FOREACH(o, &ob->queue, link) {
		int64_t w = out_when(ob, o);

		t = w < t ? w : t;
	}
	if (t == INT64_MAX)
		return t;
	gate = api_gate(ob->d.api, API_SEND);
	return t > gate ? t : gate;
}
