/*
 * mutes.h - the one owner of mutes: what is held, until when. The store
 * keeps them; this module keeps the active ones in memory for the
 * per-alert match, and reloads them only from committed state (after the
 * turn's commit), so a mute whose transaction failed never holds anything.
 */
#ifndef OPSBOT_MUTES_H
#define OPSBOT_MUTES_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/store.h"
#include "bot/util.h"

#define MUTES_MAX 32 /* active mutes applied; one more is refused */

struct mutes;

/* st and clk must outlive the mutes. NULL when out of memory. */
struct mutes *mutes_new(struct store *st, const struct clock *clk);
void mutes_free(struct mutes *m);

/* The active mute that holds a (a resolution is never held), or NULL. */
const struct mute *mutes_match(const struct mutes *m, const struct alert *a);
/* Counts one more alert held by mute id (turn's transaction). */
int mutes_hold(struct mutes *m, int64_t id);

/* Stores mu (scope filled in, until/created_* set by the caller) in the
 * turn's transaction; it applies after the commit. 0; 1 when MUTES_MAX
 * are active (nothing stored); -1 on a store error. Sets mu->id. */
int mutes_add(struct mutes *m, struct mute *mu);
/* Deletes mute id (all when 0). Returns how many, -1 on error. */
int mutes_del(struct mutes *m, int64_t id);
/* Active mutes from the store (newest state), at most max. */
int mutes_list(struct mutes *m, struct mute *out, size_t max);

/* Mutes whose end has come: deleted (turn's transaction) and copied to
 * gone (at most max) for the caller to announce. Returns the count. */
int mutes_expire(struct mutes *m, struct mute *gone, size_t max);
/* Wall ms the next active mute ends; INT64_MAX with none. */
int64_t mutes_next_end(const struct mutes *m);
size_t mutes_count(const struct mutes *m);

/* After the turn's commit: reloads from the store when anything changed
 * or the commit failed (memory then matches what is on disk). */
void mutes_committed(struct mutes *m, int ok);
/* Reloads now (start). -1 on a store error. */
int mutes_load(struct mutes *m);

#endif
