/*
 * store.h - the durable store: alerts, one delivery row per (alert, chat),
 * mutes and a key/value table, in one SQLite database (WAL,
 * synchronous=FULL).
 *
 * Every write happens inside the one transaction of the current loop turn:
 * the first write opens it (store_begin is idempotent), store_commit()
 * makes it durable, and only then does the loop answer clients or act on
 * what it wrote. Functions return 0 (or a count) on success and -1 on an
 * SQLite error, with the message in the store (store_errmsg). They never
 * log.
 *
 * Times are wall-clock milliseconds (they must survive a reboot).
 */
#ifndef OPSBOT_STORE_H
#define OPSBOT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "alerts/alert.h"

enum delivery_state {
	DS_PENDING = 0,    /* not tried yet; due_at set */
	DS_SENDING = 1,    /* request in flight; becomes PENDING on open */
	DS_SENT = 2,       /* Telegram accepted it; message_id set */
	DS_RETRYING = 3,   /* transient failure; due_at is the next try */
	DS_FAILED = 4,     /* permanent failure or too old; last_error says */
	DS_MUTED = 5,      /* held by a mute; never sent unless retried */
	DS_SUPPRESSED = 6, /* repeat of a firing key within the window */
	DS_COUNT
};

/* Bits of delivery.flags. */
#define DF_PLAIN 0x1     /* send as escaped plain text (HTML was refused) */
#define DF_NO_THREAD 0x2 /* the forum topic is gone: send without it */
#define DF_PACKED 0x4    /* was delivered inside a packed message */
#define DF_EDITED 0x8    /* the original message was edited to resolved */
#define DF_RESOLVED 0x10 /* (packed row) its alert has resolved: the pack
			    shows that line resolved */

struct dest {
	int64_t chat_id;
	int64_t thread_id; /* 0 = none */
};

struct delivery {
	int64_t alert_id;
	int64_t chat_id;
	int64_t thread_id;
	int state;          /* enum delivery_state */
	int flags;          /* DF_* */
	int attempts;
	int64_t due_at;     /* next attempt (wall ms); 0 when not due */
	int64_t message_id; /* Telegram message id; 0 = none */
	int64_t sent_at;    /* wall ms; 0 = not sent */
	int64_t updated_at; /* wall ms of the last change */
	char last_error[256];
	/* Parts of a multi-part message already in the chat (message_id is
	 * the first one's): a restart resumes at the next part. */
	int parts_sent;
};

/* A due delivery with its alert, for dispatch. */
struct due_item {
	struct delivery d;
	struct alert a; /* owned: alert_free() each, or store_due_free() */
};

struct mute {
	int64_t id;
	int64_t until;      /* wall ms */
	/* glob; "" = any source. Room for any source matched literally:
	 * every byte of it may need a '\\' before it. */
	char source[ALERT_MAX_SOURCE * 2 + 1];
	int max_severity;   /* mutes alerts this severe or less (SEV_*); -1 any */
	char created_by[64];
	int64_t created_at;
	int64_t held;       /* deliveries held by this mute so far */
};

/* The original of a firing key (store_last_firing). */
struct firing {
	int64_t id;
	int64_t received_at;
	int acked;    /* 1 if acked */
	int severity; /* SEV_* */
};

/* A 429 block persisted across restarts: nothing to chat (0: anywhere)
 * before until (wall ms). */
struct store_block {
	int64_t chat;
	int64_t until;
};

/* The peer argument of the key lookups when keys are one namespace for
 * every sender (key scope "shared"). */
#define STORE_ANY_PEER INT64_MIN

/* The peer argument for an alert from peer_uid: STORE_ANY_PEER when keys
 * are shared, else its own uid (socket.key_scope). */
static inline int64_t store_key_peer(int shared, int64_t peer_uid)
{
	return shared ? STORE_ANY_PEER : peer_uid;
}

struct store_stats {
	int64_t alerts;             /* rows in alerts */
	int64_t by_state[DS_COUNT]; /* deliveries per state */
	int64_t oldest_undelivered; /* wall ms of the oldest due alert; 0 none */
	int64_t next_retry;         /* earliest due_at of RETRYING; 0 none */
	int64_t sent_hour;          /* deliveries sent in the last hour */
	int64_t sent_day;
	int64_t db_bytes;           /* page_count * page_size */
};

struct store;

/* Opens (creating and migrating as needed) the database at path, takes an
 * exclusive lock on "<path>.lock" so a second daemon refuses to run on the
 * same store, and turns every SENDING row back into PENDING (due now): a
 * crash between send and commit repeats a message, never drops one.
 * Returns 0 and *out (caller closes), or -1 with a message in err. */
int store_open(struct store **out, const char *path, int64_t now, char *err,
	       size_t errlen);
void store_close(struct store *st);
const char *store_errmsg(const struct store *st);

/* Transaction of the loop turn. begin is idempotent; commit is a no-op
 * when nothing was written. A failed commit rolls back and returns -1:
 * nothing since begin happened. */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);
int store_in_txn(const struct store *st);
/* 0 while the last commit that had something to write failed (disk
 * full, I/O error): what is written now may not stay. 1 once a commit
 * succeeds again. */
int store_healthy(const struct store *st);

/* All or nothing inside the turn: a savepoint (beginning the transaction
 * if needed) that is released, or rolled back with every write since.
 * One at a time. A rollback that cannot be done makes the turn's commit
 * fail, so nothing half-written is ever committed. */
int store_savepoint(struct store *st);
int store_savepoint_release(struct store *st);
void store_savepoint_rollback(struct store *st);

/* --- intake --- */

/* Inserts a (a->received_at set by the caller) and one delivery per dest
 * with the given initial state (PENDING, MUTED or SUPPRESSED), due at
 * a->received_at when PENDING. repeat_of: the original alert's id when
 * this one repeats a firing key, else 0. Sets a->id. */
int store_alert_insert(struct store *st, struct alert *a,
		       const struct dest *dests, size_t ndests, int state,
		       int64_t repeat_of);

/* The newest alert with this key that is firing, is not itself a repeat,
 * and has no resolved alert with the same key after it; with peer other
 * than STORE_ANY_PEER, only alerts whose peer_uid is peer count (firing
 * and resolved). Returns 1 and fills *out; 0 if none; -1 on error. Index
 * seeks only. */
int store_last_firing(struct store *st, const char *key, int64_t peer,
		      struct firing *out);
/* Adds one to the original's repeat count. */
int store_bump_repeat(struct store *st, int64_t alert_id);

/* --- dispatch --- */

/* Earliest due_at over all chats (or one chat if chat != 0); 0 if
 * nothing is due ever. Uses the (chat_id, due_at) index: O(log n).
 * -1 on error: it reads as "due now", so the caller's store_due runs and
 * reports the error instead of the queue stalling silently. */
int64_t store_next_due(struct store *st, int64_t chat);

/* Chats that have deliveries with due_at set (at most max). */
int store_due_chats(struct store *st, int64_t *chats, size_t max);

/* Up to max deliveries of chat with due_at <= now, most severe first,
 * then oldest first, each with its alert loaded. Returns the count. */
int store_due(struct store *st, int64_t chat, int64_t now,
	      struct due_item *items, size_t max);
void store_due_free(struct due_item *items, size_t n);

/* Writes every field of d (matched by alert_id and chat_id); updated_at
 * is set from d. due_at must be 0 unless state is PENDING or RETRYING. */
int store_delivery_update(struct store *st, const struct delivery *d);

/* Moves every delivery of chat from to chat to (group became supergroup),
 * keeping state; rows that would collide are dropped from the old chat. */
int store_migrate_chat(struct store *st, int64_t from, int64_t to);

/* The delivery to chat of the newest firing, non-repeat alert with key
 * (and peer_uid peer, unless STORE_ANY_PEER) before alert id `before`
 * that has a message_id. 1 found, 0 not. */
int store_original_delivery(struct store *st, const char *key, int64_t peer,
			    int64_t chat, int64_t before, struct delivery *out);

/* The rows sent in one packed message (chat, message_id), in the order
 * the pack lists them, up to max. Returns the count. */
int store_pack_rows(struct store *st, int64_t chat, int64_t message_id,
		    struct delivery *out, size_t max);

#define STORE_SUMMARY_ROWS 10000 /* due rows a storm summary looks at */
#define STORE_SUMMARY_SOURCES 3

/* What is queued (due by now) for one chat, for a storm's opening
 * summary: counts by severity and the sources with most alerts (at most
 * STORE_SUMMARY_ROWS rows are looked at; capped says there were more). */
struct queue_summary {
	int64_t total;
	int64_t by_severity[SEV_COUNT];
	struct {
		char source[64];  /* "" for alerts without a source */
		int64_t n;
	} sources[STORE_SUMMARY_SOURCES];
	size_t nsources;
	int capped;
};

int store_queue_summary(struct store *st, int64_t chat, int64_t now,
			struct queue_summary *out);

/* --- reading, for commands --- */

/* Loads alert id into *out (caller alert_free()s). 1 found, 0 not. */
int store_alert_get(struct store *st, int64_t id, struct alert *out);
/* Deliveries of one alert, up to max. Returns the count. */
int store_deliveries(struct store *st, int64_t alert_id, struct delivery *out,
		     size_t max);
/* The newest n alerts (n <= max), newest first, optionally only those at
 * least as severe as min_severity (-1 = all). Caller alert_free()s each. */
int store_recent(struct store *st, int min_severity, struct alert *out,
		 size_t max);
/* The same, only alerts whose source matches source_glob (fnmatch(3), as
 * /mute; NULL = any; an alert without a source is the empty string). */
int store_recent_match(struct store *st, int min_severity,
		       const char *source_glob, struct alert *out, size_t max);
/* The same, only alerts with a delivery row to chat (routed there). */
int store_recent_chat(struct store *st, int64_t chat, int min_severity,
		      const char *source_glob, struct alert *out, size_t max);
/* Counts kept in the store, index seeks for the rest: no scan, whatever
 * the size of the store. sent_hour/sent_day count whole minutes. */
int store_stats(struct store *st, int64_t now, struct store_stats *out);
/* Acked-by name and time of an alert; 1 if acked, 0 if not. */
int store_ack_get(struct store *st, int64_t alert_id, char *by, size_t bylen,
		  int64_t *at);

/* --- operator actions --- */

/* RETRYING and FAILED deliveries (of alert_id, or all when 0) become
 * RETRYING due at now. Returns how many. */
int store_retry_now(struct store *st, int64_t alert_id, int64_t now);
/* Records the ack (the first ack is kept); 0 ok, 1 no such alert, -1
 * error. */
int store_ack(struct store *st, int64_t alert_id, const char *by, int64_t at);

int store_mute_add(struct store *st, struct mute *m); /* sets m->id */
/* Active mutes (until > now), at most max. */
int store_mutes(struct store *st, int64_t now, struct mute *out, size_t max);
/* Deletes mute id (all when 0). Returns how many were deleted. */
int store_mute_del(struct store *st, int64_t id);
/* Expired mutes (until <= now): copies at most max into out and deletes
 * them. Returns the count. */
int store_mutes_expire(struct store *st, int64_t now, struct mute *out,
		       size_t max);
int store_mute_hold(struct store *st, int64_t mute_id);

/* --- Alertmanager silences opsbot created (commands/cmd_silence.c) --- */

struct silence {
	int64_t id;            /* local number: /unmute sN */
	char silence_id[64];   /* Alertmanager's id (a UUID) */
	char peer[512];        /* the peer that created it */
	int64_t alert_id;      /* the alert it was made for; 0 none */
	char matchers[512];    /* as shown: alertname="X", instance="y" */
	char created_by[64];
	int64_t created_at;    /* wall ms */
	int64_t ends_at;       /* wall ms */
	int gone;              /* 1: expired by us or seen gone */
	char url[640];         /* the silence in Alertmanager's UI, or "" */
};

/* Records si (sets si->id) in the turn's transaction. */
int store_silence_add(struct store *st, struct silence *si);
/* By local id, or by silence_id when that is not NULL or "". 1 found,
 * 0 not, -1 error. */
int store_silence_get(struct store *st, int64_t id, const char *silence_id,
		      struct silence *out);
/* Silences not gone that end after now, oldest first, at most max. */
int store_silences(struct store *st, int64_t now, struct silence *out,
		   size_t max);
/* Marks one gone (expired, or found expired or deleted). */
int store_silence_gone(struct store *st, int64_t id);

/* --- relay mode (bot/relay.c): the alerts table is the queue --- */

/* Alerts with id in (after, upto], oldest first, at most max; caller
 * alert_free()s each. Returns the count, -1 on error. */
int store_alerts_after(struct store *st, int64_t after, int64_t upto,
		       struct alert *out, size_t max);
/* How many alerts have id in (after, upto]; -1 on error. */
int64_t store_alerts_count_after(struct store *st, int64_t after,
				 int64_t upto);
/* The newest alert id (0 none), -1 on error. */
int64_t store_max_alert_id(struct store *st);
/* Keyed firing originals in (after, upto] that are still firing: no
 * resolution and no newer original of their key after them. Oldest
 * first, at most max; caller alert_free()s each. */
int store_firing_after(struct store *st, int64_t after, int64_t upto,
		       struct alert *out, size_t max);
/* The newest firing original of key with id <= at: 1 (caller
 * alert_free()s out), 0 none, -1 error. */
int store_original_at(struct store *st, const char *key, int64_t at,
		      struct alert *out);

/* 1 when a resolution of key whose meta startsAt is starts_at is stored
 * (a firing with that startsAt arriving now is a late copy of one that
 * already ended), with *orig the firing original it resolved (0 none);
 * 0 when not; -1 on error. */
int store_resolved_start(struct store *st, const char *key,
			 const char *starts_at, int64_t *orig);

/* --- small state --- */

/* 1 found (value copied), 0 absent, -1 error. */
int store_kv_get(struct store *st, const char *key, char *val, size_t vlen);
int store_kv_set(struct store *st, const char *key, const char *val);

/* Records a 429 block (turn's transaction); an earlier until than the
 * stored one is ignored. */
int store_block_set(struct store *st, int64_t chat, int64_t until);
/* Blocks still in force at now, at most max. Returns the count. */
int store_blocks(struct store *st, int64_t now, struct store_block *out,
		 size_t max);
/* Forgets blocks that ended and per-minute sent counts older than two
 * days (turn's transaction). */
int store_tidy(struct store *st, int64_t now);

/* Deletes up to batch alerts received before cutoff that have no due or
 * in-flight delivery (with their deliveries). Returns how many. */
int store_prune(struct store *st, int64_t cutoff, int batch);

const char *delivery_state_name(int state);

#endif
