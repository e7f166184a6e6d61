/*
 * intake.h - what happens to one line read from the alert socket: parse
 * and validate it, decide its destinations (routes, migrated chats),
 * mutes and repeats, and insert it into the turn's transaction. The
 * answer to the client is queued for after the commit.
 */
#ifndef OPSBOT_INTAKE_H
#define OPSBOT_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/listener.h"

struct daemon;

/* listener_line_fn: arg is the struct daemon. */
void intake_line(void *arg, uint64_t cid, const struct peer *peer,
		 const char *line, size_t len);

/* Destinations of an alert: the chats of every matching route, or the
 * default chats. Returns how many (<= max). Chat ids are passed through
 * the migration map. */
struct config;
struct alert;
struct dest;
size_t intake_route(const struct config *cfg, const struct alert *a,
		    struct dest *out, size_t max);

#endif
