/*
 * route.h - where an alert goes: the routes of the configuration (source
 * glob, minimum severity, label globs) matched against an alert, with the
 * reason in words (for `opsbot route-test`), the destinations, and the
 * template of a delivery.
 *
 * Leaf module: nothing logs, nothing here knows the daemon.
 */
#ifndef OPSBOT_ROUTE_H
#define OPSBOT_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"
#include "alerts/format.h"
#include "bot/config.h"

struct dest;

/* 1 if a matches r: severity at least r->min_severity, source matching
 * r->source (when set), and every label condition of r. why (may be
 * NULL) says what matched, or the first thing that did not, e.g.
 * "severity warning is below error" or "label env=\"dev\" does not
 * match \"prod*\"". */
int route_match(const struct route *r, const struct alert *a, char *why,
		size_t whylen);

/* Destinations of a: the chats of every matching route (each chat once,
 * with the thread of the first route that names it), or the default
 * chats when no route matches. Returns how many (<= max). The same rules
 * as intake_route() today, plus labels; chat migrations are NOT applied
 * here (the caller maps each chat id, as intake_store does). */
size_t route_dests(const struct config *cfg, const struct alert *a,
		   struct dest *out, size_t max);

/* The template text for the delivery of a to chat_id: that of the first
 * matching route that sends to chat_id and has one, else
 * delivery.template, else NULL (the built-in layout). The text lives in
 * cfg. */
const char *route_template(const struct config *cfg, const struct alert *a,
			   int64_t chat_id);

/* The message parts for the delivery of a to chat_id, like format_alert
 * (plain: like format_alert_plain), shaped by route_template(); the
 * built-in layout when there is none or it cannot render a valid
 * message. Same return and ownership as format_alert. */
int route_format(const struct config *cfg, const struct alert *a,
		 const struct format_extra *x, int64_t chat_id, int plain,
		 char **parts, size_t max);

#endif
