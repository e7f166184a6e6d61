/*
 * sockin.h - the socket transport: NDJSON lines from the listener become
 * alerts through intake_submit; each line's answer waits for the turn's
 * commit ("ok" only for an alert on disk). Also answers the one control
 * line, {"command":"status"}. SO_PEERCRED authorisation lives here.
 */
#ifndef OPSBOT_SOCKIN_H
#define OPSBOT_SOCKIN_H

#include <stddef.h>

#include "alerts/listener.h"
#include "bot/loop.h"

struct config;
struct cJSON;
struct intake;

struct sockin_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct intake *intake;
	/* The status report for the control line (caller deletes). */
	struct cJSON *(*status)(void *arg);
	void *status_arg;
};

struct sockin;

/* Opens the socket (see listener_open). 0, or -1 with err. */
int sockin_open(struct sockin **out, const struct sockin_deps *deps,
		const struct listener_opts *lo, char *err, size_t errlen);
/* Answers what is pending ("shutting down"), closes and unlinks. */
void sockin_close(struct sockin *s);
/* Shutdown: no new connections; pending answers still go out. */
void sockin_stop(struct sockin *s);
/* The loop source: the listener's fds, framing, answers after commit. */
void sockin_source(struct sockin *s, struct loop_source *src);
void sockin_get_stats(const struct sockin *s, struct listener_stats *st);

#endif
