/*
 * intake.h - one validated alert, from any transport, becomes a stored
 * alert: its destinations (routes, migrated chats), mutes and repeats are
 * decided and it is inserted into the turn's transaction.
 *
 * Repeats: a firing alert whose key names one still firing (from the same
 * sender under socket.key_scope "uid"), within delivery.repeat_window or
 * after an ack, is stored SUPPRESSED, unless it is more severe.
 *
 * Transport-neutral: the socket and HTTP transports parse their input,
 * call intake_submit, and answer their own clients after the turn's
 * commit (never before).
 */
#ifndef OPSBOT_INTAKE_H
#define OPSBOT_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "bot/util.h"

struct alert;
struct chats;
struct config;
struct mutes;
struct stats;
struct store;

enum intake_transport { INTAKE_SOCKET = 0, INTAKE_HTTP };

struct intake_origin {
	enum intake_transport transport;
	int64_t uid; /* socket: SO_PEERCRED of the writer; -1 unknown */
	int64_t pid;
};

struct intake_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;
	struct chats *chats;
	struct mutes *mutes;
	struct stats *stats; /* alerts received by transport and result */
};

struct intake;

struct intake *intake_new(const struct intake_deps *deps);
void intake_free(struct intake *in);

/* Stores a (parsed and valid) in the turn's transaction; sets
 * a->received_at and a->id. 0, or -1 with "store: ..." in err (nothing of
 * a is stored). */
int intake_submit(struct intake *in, struct alert *a,
		  const struct intake_origin *o, char *err, size_t errlen);
/* {"ok":false,"error":msg}, the refusal every transport answers with
 * (caller frees; NULL when out of memory). */
char *intake_error_json(const char *msg);

/* Counts input a transport refused before intake_submit. */
void intake_refused(struct intake *in, enum intake_transport t);

#endif
