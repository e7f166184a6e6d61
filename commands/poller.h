/*
 * poller.h - operator commands over long polling: getUpdates in the event
 * loop, the offset kept in the store, setMyCommands at start, and each
 * update handed to the command table (commands.h).
 */
#ifndef OPSBOT_POLLER_H
#define OPSBOT_POLLER_H

#include <stdint.h>

struct daemon;
struct poller;
struct cJSON;

struct poller *poller_new(struct daemon *d);
void poller_free(struct poller *p);
/* Starts a getUpdates (or setMyCommands / deleteWebhook) when none is in
 * flight and the poller's own backoff allows. */
void poller_run(struct poller *p);
/* Earliest monotonic time poller_run has something to do. */
int64_t poller_next(const struct poller *p);
/* Facts for /status. */
void poller_status(const struct poller *p, struct cJSON *obj);

#endif
