/*
 * poller.h - operator commands over long polling: getUpdates in the event
 * loop, the offset kept in the store, setMyCommands at start, and each
 * update handed to the command table (commands.h).
 */
#ifndef OPSBOT_POLLER_H
#define OPSBOT_POLLER_H

#include <stdint.h>

struct api;
struct clock;
struct cJSON;
struct cmd_deps;
struct config;
struct rng;
struct store;
struct tg;

struct poller_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;       /* the offset, in the turn's transaction */
	struct tg *tg;
	struct api *api;           /* one 401 policy with the senders */
	struct rng *rng;
	const struct cmd_deps *cmds;
};

struct poller;

/* NULL when out of memory. Every dep must outlive the poller. */
struct poller *poller_new(const struct poller_deps *deps);
void poller_free(struct poller *p);
/* Starts a getUpdates (or setMyCommands / deleteWebhook) when none is in
 * flight and the poller's own backoff allows. */
void poller_run(struct poller *p);
/* Earliest monotonic time poller_run has something to do. */
int64_t poller_next(const struct poller *p);
/* Facts for /status. */
void poller_status(const struct poller *p, struct cJSON *obj);
/* After the turn's commit: a failed commit takes the offset back to what
 * is stored, so the updates of that turn come again. */
void poller_committed(struct poller *p, int ok);

#endif
