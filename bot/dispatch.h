/*
 * dispatch.h - which message goes to Telegram next, and what each answer
 * means for the delivery rows.
 *
 * For every destination chat (chats.h), dispatch takes the due deliveries
 * from the store (most severe first), waits for the rate limiter and the
 * API state (api.h), packs a backlog into one message when the chat's
 * rate cannot clear it within delivery.pack_after (alerts that ring and
 * quiet ones never share a message; a storm opens with a summary), sends, and records every outcome on the delivery
 * rows (TELEGRAM.md's error table). Messages to operators go through its
 * outbox (outbox.h), ahead of the alert backlog.
 */
#ifndef OPSBOT_DISPATCH_H
#define OPSBOT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "bot/util.h"

struct api;
struct chats;
struct config;
struct cJSON;
struct outbox;
struct ratelimit;
struct rng;
struct stats;
struct store;
struct tg;

struct dispatch_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;
	struct tg *tg;
	struct ratelimit *rl;
	struct api *api;
	struct rng *rng;
	struct chats *chats;
	struct stats *stats;
};

struct dispatch;

/* NULL when out of memory. Every dep must outlive the dispatch. 429
 * blocks stored by an earlier run that are still in force are put back
 * into the rate limiter. */
struct dispatch *dispatch_new(const struct dispatch_deps *deps);
void dispatch_free(struct dispatch *ds);

/* The operators' messages (owned by dispatch: one request per chat). */
struct outbox *dispatch_outbox(struct dispatch *ds);

/* Starts every send that is due and allowed now (replies first). */
void dispatch_run(struct dispatch *ds);
/* Earliest monotonic time at which dispatch_run may have work (INT64_MAX
 * when idle). */
int64_t dispatch_next(struct dispatch *ds);
/* Requests in flight (alerts and replies). */
int dispatch_inflight(const struct dispatch *ds);
/* After the turn's commit. ok: the rows dispatch wrote are durable.
 * Failed: they are kept and written again every second until a commit
 * takes them, and no new send starts meanwhile (store_healthy). */
void dispatch_committed(struct dispatch *ds, int ok);

/* /retry_now: failed destinations are tried again, an open breaker and a
 * refused token probe at once. */
void dispatch_retry_now(struct dispatch *ds);

/* Facts for /status: destinations that failed, send queue. */
void dispatch_status(struct dispatch *ds, struct cJSON *obj);

/* Re-renders the messages of alert id in every chat it was sent to
 * (after an ack): each single-alert message, and each pack it is in
 * (lines acked and resolved marked, buttons while a line wants them). */
void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id);
/* The same for n alerts at once (a pack's "Ack all"): every message is
 * edited once, however many of the alerts it shows. */
void dispatch_refresh_alerts(struct dispatch *ds, const int64_t *ids,
			     size_t n);

#endif
