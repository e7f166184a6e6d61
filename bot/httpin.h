/*
 * httpin.h - the HTTP transport: the listener of alerts/httpd.h inside
 * the loop. POST /api/v1/alerts, /api/v1/alertmanager and /api/v1/grafana
 * become alerts through the same intake_submit as the socket's lines, all
 * of a request or none (one savepoint per request), and each request is
 * answered only after the turn's commit. GET /metrics and /healthz are
 * answered at once from the caller's functions.
 */
#ifndef OPSBOT_HTTPIN_H
#define OPSBOT_HTTPIN_H

#include <stddef.h>

#include "bot/loop.h"

struct buf;
struct config;
struct intake;
struct store;

struct httpin_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;
	struct intake *intake;
	/* Renders /metrics into out: 0, or -1 with err. */
	int (*metrics)(void *arg, struct buf *out, char *err, size_t errlen);
	/* /healthz: 1 healthy, else 0 with the reason in why. */
	int (*health)(void *arg, char *why, size_t whylen);
	void *arg;
};

struct httpin;

/* Opens the listener of cfg->http_* (see httpd_open). 0, or -1 with err. */
int httpin_open(struct httpin **out, const struct httpin_deps *deps,
		char *err, size_t errlen);
/* Parked requests are answered 503; the listener is closed. */
void httpin_close(struct httpin *h);
/* The loop source: the listener's fd, its timers, answers after commit. */
void httpin_source(struct httpin *h, struct loop_source *src);
/* The port it listens on (listen "...:0" picks one). */
int httpin_port(const struct httpin *h);

#endif
