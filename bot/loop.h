/*
 * loop.h - the event loop: one thread, one clock read, one wait and one
 * commit per turn, around registered sources (in the way of Redis's
 * aeCreateFileEvent).
 *
 * A source gives the descriptors it waits on, handles what is ready, and
 * names its next deadline; the loop knows nothing else about it. A turn:
 *   read the clock -> collect every source's pollfds and the earliest
 *   deadline -> curl_multi_poll (curl's own sockets wait beside ours) ->
 *   read the clock -> each source's handle, in registration order ->
 *   the commit function -> each source's committed(ok).
 * Adding a source touches no loop code.
 */
#ifndef OPSBOT_LOOP_H
#define OPSBOT_LOOP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/util.h"

struct loop_source {
	const char *name;
	void *arg;
	size_t maxfds; /* pollfds it may give per turn */
	/* Fills up to max pollfds; returns how many. NULL: none. */
	size_t (*pollfds)(void *arg, struct pollfd *fds, size_t max);
	/* Runs every turn with its pollfds (revents set; n may be 0). */
	void (*handle)(void *arg, const struct pollfd *fds, size_t n);
	/* Earliest monotonic ms it has work; INT64_MAX for none. NULL: none. */
	int64_t (*next)(void *arg);
	/* After the turn's commit: ok is 1 if it made the turn durable. */
	void (*committed)(void *arg, int ok);
	int work; /* 1: not run any more once the loop is stopping */
};

/* Makes the turn's writes durable: 0, or -1 when nothing was kept. */
typedef int (*loop_commit_fn)(void *arg);

struct loop;

/* multi: the curl multi handle to wait in. NULL on allocation failure. */
struct loop *loop_new(void *multi, loop_commit_fn commit, void *arg);
void loop_free(struct loop *l);
/* Copies s. 0, or -1 when the table is full. */
int loop_add(struct loop *l, const struct loop_source *s);

/* The clock of the current turn, read once per turn. */
const struct clock *loop_clock(const struct loop *l);

/* One turn. */
void loop_turn(struct loop *l);
/* From now on `work` sources are skipped (shutdown: finish, start
 * nothing new). */
void loop_stop(struct loop *l);
int loop_stopping(const struct loop *l);

#endif
