/*
 * store.c - the durable store (see store.h): one SQLite database in WAL
 * mode with synchronous=FULL, a versioned schema, prepared statements kept
 * for the life of the store, and an flock on "<path>.lock" so that only
 * one daemon ever writes it.
 *
 * Indexes are chosen for a queue of a million due deliveries: the
 * dispatcher's questions (what is due next, which chats have work, the
 * next batch of one chat) are each answered by one index seek, never by a
 * scan; so are /status's counts (kept by triggers, schema v4). Only
 * /retry_now of everything may scan; it is rare.
 */
#include "alerts/store.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bot/util.h"

/*
 * Enum values written into the SQL text below. Each literal is pinned to
 * its enum here, so renumbering an enum fails the build instead of
 * silently changing what a query means. (Literals rather than bound
 * parameters: the partial index deliveries_retry needs a constant, and
 * the planner can only use it for a query with the same constant.)
 */
#define SQL_PENDING	"0"
#define SQL_SENDING	"1"
#define SQL_SENT	"2"
#define SQL_RETRYING	"3"
#define SQL_FAILED	"4"
#define SQL_MUTED	"5"
#define SQL_SUPPRESSED	"6"
#define SQL_FIRING	"0"
#define SQL_DF_PACKED	"4"
#define SQL_RESOLVED	"1"
#define SQL_COUNT_ALERTS "100" /* counts.k of the alerts row */
#define COUNT_K_ALERTS 100
_Static_assert(DS_PENDING == 0 && DS_SENDING == 1 && DS_SENT == 2 &&
	       DS_RETRYING == 3 && DS_FAILED == 4 && DS_MUTED == 5 &&
	       DS_SUPPRESSED == 6 && DS_COUNT == 7,
	       "SQL_<state> literals must match enum delivery_state");
_Static_assert(DF_PACKED == 4, "SQL_DF_PACKED must match DF_PACKED");
_Static_assert(ALERT_FIRING == 0 && ALERT_RESOLVED == 1,
	       "SQL_FIRING / SQL_RESOLVED must match enum alert_status");

/*
 * Schema migrations: migrations[i] takes the database from user_version i
 * to i + 1. Append a step to change the schema; never edit a released one.
 */
static const char schema_v1[] =
	"CREATE TABLE alerts ("
	" id INTEGER PRIMARY KEY,"
	" received_at INTEGER NOT NULL,"
	" severity INTEGER NOT NULL,"
	" status INTEGER NOT NULL,"
	" source TEXT, title TEXT, text TEXT, key TEXT, url TEXT,"
	" labels TEXT,"
	" peer_uid INTEGER NOT NULL DEFAULT -1,"
	" peer_pid INTEGER NOT NULL DEFAULT -1,"
	" repeats INTEGER NOT NULL DEFAULT 0,"
	" repeat_of INTEGER,"
	" acked_by TEXT, acked_at INTEGER);"
	/* Originals of a firing key (store_last_firing, original_delivery)
	 * and resolves of a key: repeats are in neither, so a key that
	 * repeats a million times costs nothing here. */
	"CREATE INDEX alerts_firing ON alerts(key, id)"
	" WHERE key IS NOT NULL AND status = " SQL_FIRING
	" AND repeat_of IS NULL;"
	"CREATE INDEX alerts_resolved ON alerts(key, id)"
	" WHERE key IS NOT NULL AND status = " SQL_RESOLVED ";"
	/* store_prune: oldest first without scanning the table. */
	"CREATE INDEX alerts_received ON alerts(received_at);"
	/* WITHOUT ROWID: the primary key is the table, one b-tree less per
	 * insert. severity is copied from the alert so the queue index can
	 * order by it without a join. */
	"CREATE TABLE deliveries ("
	" alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
	" chat_id INTEGER NOT NULL,"
	" thread_id INTEGER,"
	" state INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" due_at INTEGER,"
	" message_id INTEGER,"
	" sent_at INTEGER,"
	" updated_at INTEGER NOT NULL,"
	" last_error TEXT,"
	" severity INTEGER NOT NULL,"
	" PRIMARY KEY (alert_id, chat_id)) WITHOUT ROWID;"
	/* store_next_due, store_due_chats (skip-scan). */
	"CREATE INDEX deliveries_next ON deliveries(chat_id, due_at)"
	" WHERE due_at IS NOT NULL;"
	/* store_due: in dispatch order; due_at last so the now filter is
	 * answered from the index without visiting the row. */
	"CREATE INDEX deliveries_queue ON deliveries"
	"(chat_id, severity, alert_id, due_at) WHERE due_at IS NOT NULL;"
	"CREATE INDEX deliveries_sent ON deliveries(sent_at)"
	" WHERE sent_at IS NOT NULL;"
	/* Next retry for stats; holds only RETRYING rows, so intake (which
	 * never inserts RETRYING) does not pay for it. */
	"CREATE INDEX deliveries_retry ON deliveries(due_at)"
	" WHERE state = " SQL_RETRYING ";"
	"CREATE TABLE mutes ("
	" id INTEGER PRIMARY KEY,"
	" until INTEGER NOT NULL,"
	" source TEXT NOT NULL DEFAULT '',"
	" max_severity INTEGER NOT NULL DEFAULT -1,"
	" created_by TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL,"
	" held INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;";

/* v2: where an alert came from (struct alert's meta: the webhook's
 * fingerprint, labels, links), NULL for socket alerts. */
static const char schema_v2[] =
	"ALTER TABLE alerts ADD COLUMN meta TEXT;";

/* v3: the rows of one packed message (store_pack_rows: a press of a
 * pack's buttons, a resolution editing its pack). */
static const char schema_v3[] =
	"CREATE INDEX deliveries_message ON deliveries(chat_id, message_id)"
	" WHERE message_id IS NOT NULL;";

/*
 * v4: facts kept as the rows change instead of counted when asked, and
 * what a restart must not forget.
 * - counts: deliveries per state (k = state) and alerts (k = 100), kept
 *   exact in the same transaction as the change (a rollback takes the
 *   count back with it); /status reads 8 rows, not a million. Inserts
 *   are counted by the store itself, once per turn (store_commit): a
 *   trigger per inserted row cost a third of the intake rate. State
 *   changes and deletes, rarer, are counted by triggers.
 * - sent_minutes: deliveries sent per wall-clock minute (sent_at), for
 *   "sent in the last hour/day": at most 1440 rows read.
 * - blocks: 429 blocks (chat 0: all) until a wall-clock time, honoured
 *   after a restart.
 * - deliveries.parts_sent: parts of a long alert already in the chat
 *   (with the first one's message_id), so a restart resumes after them.
 * - alerts_*_peer: the repeat and resolve lookups per sender (key scope
 *   "uid"); deliveries_chat: /alerts in a group lists what went there.
 */
static const char schema_v4[] =
	"CREATE TABLE counts (k INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
	"INSERT INTO counts (k, n) VALUES (0, 0), (1, 0), (2, 0), (3, 0),"
	" (4, 0), (5, 0), (6, 0), (" SQL_COUNT_ALERTS ", 0);"
	"UPDATE counts SET n = (SELECT COUNT(*) FROM deliveries d"
	" WHERE d.state = counts.k) WHERE k < " SQL_COUNT_ALERTS ";"
	"UPDATE counts SET n = (SELECT COUNT(*) FROM alerts)"
	" WHERE k = " SQL_COUNT_ALERTS ";"
	"CREATE TRIGGER deliveries_count_del AFTER DELETE ON deliveries BEGIN"
	" UPDATE counts SET n = n - 1 WHERE k = old.state; END;"
	"CREATE TRIGGER deliveries_count_upd AFTER UPDATE OF state"
	" ON deliveries WHEN old.state <> new.state BEGIN"
	" UPDATE counts SET n = n - 1 WHERE k = old.state;"
	" UPDATE counts SET n = n + 1 WHERE k = new.state; END;"
	"CREATE TRIGGER alerts_count_del AFTER DELETE ON alerts BEGIN"
	" UPDATE counts SET n = n - 1 WHERE k = " SQL_COUNT_ALERTS "; END;"
	"CREATE TABLE sent_minutes (m INTEGER PRIMARY KEY,"
	" n INTEGER NOT NULL);"
	"INSERT INTO sent_minutes (m, n) SELECT sent_at / 60000, COUNT(*)"
	" FROM deliveries WHERE sent_at IS NOT NULL GROUP BY 1;"
	"CREATE TRIGGER deliveries_sent_count AFTER UPDATE OF sent_at"
	" ON deliveries WHEN new.sent_at IS NOT NULL"
	" AND new.sent_at IS NOT old.sent_at BEGIN"
	" INSERT INTO sent_minutes (m, n) VALUES (new.sent_at / 60000, 1)"
	" ON CONFLICT (m) DO UPDATE SET n = n + 1; END;"
	"CREATE TABLE blocks (chat INTEGER PRIMARY KEY,"
	" until INTEGER NOT NULL);"
	"ALTER TABLE deliveries ADD COLUMN"
	" parts_sent INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX alerts_firing_peer ON alerts(key, peer_uid, id)"
	" WHERE key IS NOT NULL AND status = " SQL_FIRING
	" AND repeat_of IS NULL;"
	"CREATE INDEX alerts_resolved_peer ON alerts(key, peer_uid, id)"
	" WHERE key IS NOT NULL AND status = " SQL_RESOLVED ";"
	"CREATE INDEX deliveries_chat ON deliveries(chat_id, alert_id);";

/* v6 (renumbered at merge): the Alertmanager silences opsbot created,
 * so /mutes and /unmute can find them again. */
static const char schema_v6[] =
	"CREATE TABLE silences ("
	" id INTEGER PRIMARY KEY,"
	" silence_id TEXT NOT NULL,"
	" peer TEXT NOT NULL,"
	" alert_id INTEGER,"
	" matchers TEXT NOT NULL,"
	" created_by TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" ends_at INTEGER NOT NULL,"
	" gone INTEGER NOT NULL DEFAULT 0,"
	" url TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX silences_live ON silences(ends_at) WHERE gone = 0;";

static const char *const migrations[] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
	schema_v6,
};

#define STORE_SCHEMA_VERSION ((int)ARRAY_LEN(migrations))

/* Column lists shared by every statement that loads a row, so that
 * read_delivery()/read_alert() can read them by position. */
#define DELIV_COLS \
	"d.alert_id, d.chat_id, d.thread_id, d.state, d.flags, d.attempts," \
	" d.due_at, d.message_id, d.sent_at, d.updated_at, d.last_error," \
	" d.parts_sent"
#define DELIV_NCOLS 12
#define ALERT_COLS \
	"a.id, a.received_at, a.severity, a.status, a.source, a.title," \
	" a.text, a.key, a.url, a.labels, a.peer_uid, a.peer_pid, a.repeats," \
	" a.meta"
#define MUTE_COLS \
	"id, until, source, max_severity, created_by, created_at, held"

/* Dispatch states that still owe a send (prune keeps their alerts). */
#define OPEN_STATES "(" SQL_PENDING ", " SQL_SENDING ", " SQL_RETRYING ")"

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_RESET_SENDING,
	S_ALERT_INSERT,
	S_ALERT_DELETE,
	S_DELIV_INSERT,
	S_LAST_FIRING,
	S_LAST_FIRING_PEER,
	S_BUMP_REPEAT,
	S_NEXT_DUE_CHAT,
	S_NEXT_CHAT,
	S_DUE,
	S_DELIV_UPDATE,
	S_MIGRATE_MOVE,
	S_MIGRATE_DROP,
	S_ORIG_DELIV,
	S_ORIG_DELIV_PEER,
	S_ALERT_GET,
	S_DELIVERIES,
	S_RECENT,
	S_RECENT_CHAT,
	S_PACK_ROWS,
	S_QUEUE_SEV,
	S_QUEUE_SRC,
	S_STATS_STATES,
	S_STATS_ALERTS,
	S_STATS_OLDEST,
	S_RECEIVED_AT,
	S_STATS_RETRY,
	S_STATS_SENT,
	S_STATS_BYTES,
	S_ACK_GET,
	S_ACK,
	S_RETRY_ONE,
	S_RETRY_ALL,
	S_MUTE_ADD,
	S_MUTES,
	S_MUTE_DEL,
	S_MUTE_DEL_ALL,
	S_MUTES_EXPIRED,
	S_MUTE_HOLD,
	S_KV_GET,
	S_KV_SET,
	S_COUNT_ADD,
	S_BLOCK_SET,
	S_BLOCKS,
	S_BLOCKS_EXPIRE,
	S_SENT_EXPIRE,
	S_PRUNE,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_RESET_SENDING] =
		"UPDATE deliveries SET state = " SQL_PENDING ","
		" due_at = ?1, updated_at = ?1 WHERE state = " SQL_SENDING,
	[S_ALERT_INSERT] =
		"INSERT INTO alerts (received_at, severity, status, source,"
		" title, text, key, url, labels, peer_uid, peer_pid, repeats,"
		" repeat_of, meta) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_ALERT_DELETE] = "DELETE FROM alerts WHERE id = ?",
	/* OR IGNORE: a route listing a chat twice must not reject the
	 * alert; the first destination wins. */
	[S_DELIV_INSERT] =
		"INSERT OR IGNORE INTO deliveries (alert_id, chat_id,"
		" thread_id, state, due_at, updated_at, severity)"
		" VALUES (?,?,?,?,?,?,?)",
	/* The newest original first (LIMIT 1 in the subquery), then the
	 * resolve check once: older originals are behind a resolve too. */
	[S_LAST_FIRING] =
		"SELECT f.id, f.received_at, f.acked_by IS NOT NULL,"
		" f.severity FROM"
		" (SELECT id, received_at, acked_by, severity FROM alerts"
		"  INDEXED BY alerts_firing"
		"  WHERE key = ?1 AND status = " SQL_FIRING
		" AND repeat_of IS NULL"
		"  ORDER BY id DESC LIMIT 1) f"
		" WHERE NOT EXISTS (SELECT 1 FROM alerts r"
		"  INDEXED BY alerts_resolved WHERE r.key = ?1"
		"  AND r.status = " SQL_RESOLVED " AND r.id > f.id)",
	/* The same within one sender's keys (key scope "uid"). */
	[S_LAST_FIRING_PEER] =
		"SELECT f.id, f.received_at, f.acked_by IS NOT NULL,"
		" f.severity FROM"
		" (SELECT id, received_at, acked_by, severity FROM alerts"
		"  INDEXED BY alerts_firing_peer"
		"  WHERE key = ?1 AND peer_uid = ?2 AND status = " SQL_FIRING
		" AND repeat_of IS NULL"
		"  ORDER BY id DESC LIMIT 1) f"
		" WHERE NOT EXISTS (SELECT 1 FROM alerts r"
		"  INDEXED BY alerts_resolved_peer WHERE r.key = ?1"
		"  AND r.peer_uid = ?2 AND r.status = " SQL_RESOLVED
		" AND r.id > f.id)",
	[S_BUMP_REPEAT] =
		"UPDATE alerts SET repeats = repeats + 1 WHERE id = ?",
	[S_NEXT_DUE_CHAT] =
		"SELECT MIN(due_at) FROM deliveries"
		" WHERE chat_id = ? AND due_at IS NOT NULL",
	/* One step of the skip-scan over chats: the next chat with due
	 * work after ?1, and its earliest due_at. */
	[S_NEXT_CHAT] =
		"SELECT chat_id, due_at FROM deliveries"
		" WHERE due_at IS NOT NULL AND chat_id > ?"
		" ORDER BY chat_id, due_at LIMIT 1",
	/* INDEXED BY and CROSS JOIN pin the plan: walk the queue index in
	 * dispatch order and stop after LIMIT rows, never sort. */
	[S_DUE] =
		"SELECT " DELIV_COLS ", " ALERT_COLS
		" FROM deliveries d INDEXED BY deliveries_queue"
		" CROSS JOIN alerts a ON a.id = d.alert_id"
		" WHERE d.chat_id = ?1 AND d.due_at IS NOT NULL"
		" AND d.due_at <= ?2"
		" ORDER BY d.severity, d.alert_id LIMIT ?3",
	[S_DELIV_UPDATE] =
		"UPDATE deliveries SET thread_id = ?3, state = ?4, flags = ?5,"
		" attempts = ?6, due_at = ?7, message_id = ?8, sent_at = ?9,"
		" updated_at = ?10, last_error = ?11, parts_sent = ?12"
		" WHERE alert_id = ?1 AND chat_id = ?2",
	[S_MIGRATE_MOVE] =
		"UPDATE OR IGNORE deliveries SET chat_id = ?2"
		" WHERE chat_id = ?1",
	[S_MIGRATE_DROP] = "DELETE FROM deliveries WHERE chat_id = ?1",
	[S_ORIG_DELIV] =
		"SELECT " DELIV_COLS " FROM alerts a INDEXED BY alerts_firing"
		" JOIN deliveries d ON d.alert_id = a.id AND d.chat_id = ?2"
		" WHERE a.key = ?1 AND a.status = " SQL_FIRING
		" AND a.repeat_of IS NULL"
		" AND a.id < ?3 AND d.message_id IS NOT NULL"
		" ORDER BY a.id DESC LIMIT 1",
	[S_ORIG_DELIV_PEER] =
		"SELECT " DELIV_COLS " FROM alerts a"
		" INDEXED BY alerts_firing_peer"
		" JOIN deliveries d ON d.alert_id = a.id AND d.chat_id = ?2"
		" WHERE a.key = ?1 AND a.peer_uid = ?4"
		" AND a.status = " SQL_FIRING " AND a.repeat_of IS NULL"
		" AND a.id < ?3 AND d.message_id IS NOT NULL"
		" ORDER BY a.id DESC LIMIT 1",
	[S_ALERT_GET] = "SELECT " ALERT_COLS " FROM alerts a WHERE a.id = ?",
	[S_DELIVERIES] =
		"SELECT " DELIV_COLS " FROM deliveries d WHERE d.alert_id = ?"
		" ORDER BY d.chat_id LIMIT ?",
	/* ?3: a source glob (fnmatch, see store_open), NULL for any. */
	[S_RECENT] =
		"SELECT " ALERT_COLS " FROM alerts a"
		" WHERE (?1 < 0 OR a.severity <= ?1)"
		" AND (?3 IS NULL OR opsbot_fnmatch(?3, a.source))"
		" ORDER BY a.id DESC LIMIT ?2",
	/* The same among alerts with a delivery to one chat ?4 (routed
	 * there), newest first: a walk down deliveries_chat. */
	[S_RECENT_CHAT] =
		"SELECT " ALERT_COLS " FROM deliveries d"
		" INDEXED BY deliveries_chat"
		" CROSS JOIN alerts a ON a.id = d.alert_id"
		" WHERE d.chat_id = ?4 AND (?1 < 0 OR a.severity <= ?1)"
		" AND (?3 IS NULL OR opsbot_fnmatch(?3, a.source))"
		" ORDER BY d.alert_id DESC LIMIT ?2",
	/* A pack's rows in the order it lists them (store_due's). */
	[S_PACK_ROWS] =
		"SELECT " DELIV_COLS " FROM deliveries d"
		" WHERE d.chat_id = ?1 AND d.message_id = ?2"
		" AND (d.flags & " SQL_DF_PACKED ") != 0"
		" ORDER BY d.severity, d.alert_id LIMIT ?3",
	/* The storm summary looks at the first ?3 due rows only: memory and
	 * time must not grow with the queue. */
	[S_QUEUE_SEV] =
		"SELECT severity, COUNT(*) FROM (SELECT severity FROM"
		" deliveries WHERE chat_id = ?1 AND due_at IS NOT NULL"
		" AND due_at <= ?2 LIMIT ?3) GROUP BY severity",
	[S_QUEUE_SRC] =
		"SELECT COALESCE(a.source, ''), COUNT(*) AS n FROM (SELECT"
		" alert_id FROM deliveries WHERE chat_id = ?1"
		" AND due_at IS NOT NULL AND due_at <= ?2 LIMIT ?3) q"
		" JOIN alerts a ON a.id = q.alert_id"
		" GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?4",
	/* Counts kept by the v4 triggers: a few rows, never a scan. */
	[S_STATS_STATES] =
		"SELECT k, n FROM counts WHERE k < " SQL_COUNT_ALERTS,
	[S_STATS_ALERTS] =
		"SELECT n FROM counts WHERE k = " SQL_COUNT_ALERTS,
	/* Per (chat, severity), the first alert of the queue: an index
	 * seek each, see store_stats. */
	[S_STATS_OLDEST] =
		"SELECT MIN(alert_id) FROM deliveries WHERE chat_id = ?1"
		" AND severity = ?2 AND due_at IS NOT NULL",
	[S_RECEIVED_AT] = "SELECT received_at FROM alerts WHERE id = ?",
	[S_STATS_RETRY] =
		"SELECT MIN(due_at) FROM deliveries INDEXED BY deliveries_retry"
		" WHERE state = " SQL_RETRYING,
	/* Per minute: "the last hour" is the last 60 whole minutes. */
	[S_STATS_SENT] =
		"SELECT COALESCE(SUM(CASE WHEN m > ?1 THEN n END), 0),"
		" COALESCE(SUM(n), 0) FROM sent_minutes WHERE m > ?2",
	[S_STATS_BYTES] =
		"SELECT p.page_count * s.page_size"
		" FROM pragma_page_count() p, pragma_page_size() s",
	[S_ACK_GET] = "SELECT acked_by, acked_at FROM alerts WHERE id = ?",
	/* The first ack wins: who took the alert is what operators ask. */
	[S_ACK] =
		"UPDATE alerts SET acked_by = COALESCE(acked_by, ?2),"
		" acked_at = COALESCE(acked_at, ?3) WHERE id = ?1",
	[S_RETRY_ONE] =
		"UPDATE deliveries SET state = " SQL_RETRYING ","
		" due_at = ?2, updated_at = ?2 WHERE alert_id = ?1"
		" AND state IN (" SQL_RETRYING ", " SQL_FAILED ")",
	[S_RETRY_ALL] =
		"UPDATE deliveries SET state = " SQL_RETRYING ","
		" due_at = ?1, updated_at = ?1"
		" WHERE state IN (" SQL_RETRYING ", " SQL_FAILED ")",
	[S_MUTE_ADD] =
		"INSERT INTO mutes (until, source, max_severity, created_by,"
		" created_at, held) VALUES (?,?,?,?,?,?)",
	[S_MUTES] =
		"SELECT " MUTE_COLS " FROM mutes WHERE until > ?"
		" ORDER BY id LIMIT ?",
	[S_MUTE_DEL] = "DELETE FROM mutes WHERE id = ?",
	[S_MUTE_DEL_ALL] = "DELETE FROM mutes",
	[S_MUTES_EXPIRED] =
		"SELECT " MUTE_COLS " FROM mutes WHERE until <= ?"
		" ORDER BY id LIMIT ?",
	[S_MUTE_HOLD] = "UPDATE mutes SET held = held + 1 WHERE id = ?",
	[S_KV_GET] = "SELECT v FROM kv WHERE k = ?",
	[S_KV_SET] =
		"INSERT INTO kv (k, v) VALUES (?1, ?2)"
		" ON CONFLICT (k) DO UPDATE SET v = excluded.v",
	/* A block only extends (as in the rate limiter). */
	[S_BLOCK_SET] =
		"INSERT INTO blocks (chat, until) VALUES (?1, ?2)"
		" ON CONFLICT (chat) DO UPDATE SET"
		" until = MAX(until, excluded.until)",
	[S_BLOCKS] =
		"SELECT chat, until FROM blocks WHERE until > ?1"
		" ORDER BY chat LIMIT ?2",
	[S_COUNT_ADD] = "UPDATE counts SET n = n + ?2 WHERE k = ?1",
	[S_BLOCKS_EXPIRE] = "DELETE FROM blocks WHERE until <= ?1",
	[S_SENT_EXPIRE] = "DELETE FROM sent_minutes WHERE m < ?1",
	[S_PRUNE] =
		"DELETE FROM alerts WHERE id IN (SELECT a.id FROM alerts a"
		" WHERE a.received_at < ?1 AND NOT EXISTS (SELECT 1 FROM"
		" deliveries d WHERE d.alert_id = a.id AND d.state IN "
		OPEN_STATES ") ORDER BY a.received_at LIMIT ?2)",
};

struct store {
	sqlite3 *db;
	int lockfd;
	int in_txn;
	/* SQLite rolled the open transaction back on its own (I/O error,
	 * disk full): the next commit must fail, whatever came after. */
	int txn_lost;
	/* The last commit that had something to write failed. */
	int commit_failed;
	/* Rows inserted in this transaction, not yet in counts: deliveries
	 * per state, then alerts (index DS_COUNT). */
	int64_t inserted[DS_COUNT + 1];
	int64_t inserted_at_sp[DS_COUNT + 1]; /* at store_savepoint */
	sqlite3_stmt *stmt[S_COUNT];
	char errmsg[512];
};

static const char *const state_names[DS_COUNT] = {
	"pending", "sending", "sent", "retrying", "failed", "muted",
	"suppressed"
};

const char *delivery_state_name(int state)
{
	if (state < 0 || state >= DS_COUNT)
		return "unknown";
	return state_names[state];
}

/* --- errors and small helpers --- */

/* Records "what: sqlite message" and resets s (if any); returns -1. */
static int sql_fail(struct store *st, sqlite3_stmt *s, const char *what)
{
	snprintf(st->errmsg, sizeof(st->errmsg), "%s: %s", what,
		 sqlite3_errmsg(st->db));
	if (s != NULL)
		sqlite3_reset(s);
	return -1;
}

static int sql_fail_msg(struct store *st, sqlite3_stmt *s, const char *what,
		    const char *msg)
{
	snprintf(st->errmsg, sizeof(st->errmsg), "%s: %s", what, msg);
	if (s != NULL)
		sqlite3_reset(s);
	return -1;
}

const char *store_errmsg(const struct store *st)
{
	return st->errmsg;
}

/* Binds v, or NULL when v is 0 (the "none" of every optional column). */
static void bind_opt(sqlite3_stmt *s, int i, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

/* Binds a string the caller keeps alive until the statement is reset;
 * NULL binds SQL NULL. */
static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows. */
static int exec_stmt(struct store *st, int id, const char *what)
{
	sqlite3_stmt *s = st->stmt[id];

	if (sqlite3_step(s) != SQLITE_DONE)
		return sql_fail(st, s, what);
	sqlite3_reset(s);
	return 0;
}

/* The end of a loop reading rows: the count read, or -1 when the step
 * that ended it failed (recorded). */
static int rows_end(struct store *st, sqlite3_stmt *s, int rc, size_t n,
		    const char *what)
{
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(st, s, what);
	sqlite3_reset(s);
	return (int)n;
}

/* Steps a one-row query: 1 with the row ready to read (the caller
 * resets), 0 when there is none (reset done), -1 on error (recorded). */
static int step_one(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 0;
	}
	return sql_fail(st, s, what);
}

/* Runs a statement returning one integer (NULL reads as 0). */
static int query_int64(struct store *st, int id, const char *what,
		       int64_t *out)
{
	sqlite3_stmt *s = st->stmt[id];
	int rc = sqlite3_step(s);

	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(st, s, what);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return 0;
}

/* Copies a text column (NULL reads as "") into a fixed buffer. */
static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t size)
{
	const char *v = (const char *)sqlite3_column_text(s, i);

	str_copy(dst, v != NULL ? v : "", size);
}

/* Duplicates a text column into *out (NULL stays NULL); -1 on OOM. */
static int col_dup(sqlite3_stmt *s, int i, char **out)
{
	const char *v;
	int n;

	*out = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	v = (const char *)sqlite3_column_text(s, i);
	if (v == NULL)
		return -1;
	n = sqlite3_column_bytes(s, i);
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	memcpy(*out, v, (size_t)n + 1);
	return 0;
}

static void read_delivery(sqlite3_stmt *s, int c, struct delivery *d)
{
	d->alert_id = sqlite3_column_int64(s, c + 0);
	d->chat_id = sqlite3_column_int64(s, c + 1);
	d->thread_id = sqlite3_column_int64(s, c + 2);
	d->state = sqlite3_column_int(s, c + 3);
	d->flags = sqlite3_column_int(s, c + 4);
	d->attempts = sqlite3_column_int(s, c + 5);
	d->due_at = sqlite3_column_int64(s, c + 6);
	d->message_id = sqlite3_column_int64(s, c + 7);
	d->sent_at = sqlite3_column_int64(s, c + 8);
	d->updated_at = sqlite3_column_int64(s, c + 9);
	col_copy(s, c + 10, d->last_error, sizeof(d->last_error));
	d->parts_sent = sqlite3_column_int(s, c + 11);
}

/* Loads ALERT_COLS starting at column c. On -1 (out of memory) a holds
 * nothing to free. */
static int read_alert(sqlite3_stmt *s, int c, struct alert *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, c + 0);
	a->received_at = sqlite3_column_int64(s, c + 1);
	a->severity = (enum severity)sqlite3_column_int(s, c + 2);
	a->status = (enum alert_status)sqlite3_column_int(s, c + 3);
	if (col_dup(s, c + 4, &a->source) != 0 ||
	    col_dup(s, c + 5, &a->title) != 0 ||
	    col_dup(s, c + 6, &a->text) != 0 ||
	    col_dup(s, c + 7, &a->key) != 0 ||
	    col_dup(s, c + 8, &a->url) != 0 ||
	    col_dup(s, c + 9, &a->labels) != 0) {
		alert_free(a);
		return -1;
	}
	a->peer_uid = sqlite3_column_int64(s, c + 10);
	a->peer_pid = sqlite3_column_int64(s, c + 11);
	a->repeats = sqlite3_column_int(s, c + 12);
	if (col_dup(s, c + 13, &a->meta) != 0) {
		alert_free(a);
		return -1;
	}
	return 0;
}

static void read_mute(sqlite3_stmt *s, struct mute *m)
{
	m->id = sqlite3_column_int64(s, 0);
	m->until = sqlite3_column_int64(s, 1);
	col_copy(s, 2, m->source, sizeof(m->source));
	m->max_severity = sqlite3_column_int(s, 3);
	col_copy(s, 4, m->created_by, sizeof(m->created_by));
	m->created_at = sqlite3_column_int64(s, 5);
	m->held = sqlite3_column_int64(s, 6);
}

/* --- opening --- */

/* Runs a pragma and copies its first result column (if any) into out. */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (out != NULL && outlen > 0) {
		out[0] = '\0';
		if (rc == SQLITE_ROW)
			col_copy(s, 0, out, outlen);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int configure(sqlite3 *db, char *err, size_t errlen,
		     const char *path)
{
	static const char *const pragmas[] = {
		"PRAGMA synchronous = FULL",
		"PRAGMA foreign_keys = ON",
		/* 2000 KiB of page cache: memory must not grow with the
		 * queue. */
		"PRAGMA cache_size = -2000",
		/* temp_store stays FILE: a rare big sort or UPDATE then
		 * spills to disk instead of growing the heap. */
		/* Keep a checkpointed WAL from staying at its peak size. */
		"PRAGMA journal_size_limit = 67108864",
	};
	char mode[16];

	if (pragma(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != 0)
		goto bad;
	if (strcmp(mode, "wal") != 0) {
		snprintf(err, errlen, "cannot open store %s: journal_mode is"
			 " %s, not wal", path, mode);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_LEN(pragmas); i++)
		if (pragma(db, pragmas[i], NULL, 0) != 0)
			goto bad;
	return 0;
bad:
	snprintf(err, errlen, "cannot open store %s: %s", path,
		 sqlite3_errmsg(db));
	return -1;
}

/* Applies every migration past the database's user_version, each in its
 * own transaction together with the version bump. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char buf[32], sql[64];
	int version;

	if (pragma(db, "PRAGMA user_version", buf, sizeof(buf)) != 0)
		goto bad;
	version = atoi(buf);
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "store %s has schema version %d, newer"
			 " than this opsbot supports (%d): refusing to open it",
			 path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			 version + 1);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto bad;
		if (sqlite3_exec(db, migrations[version], NULL, NULL, NULL) !=
			    SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot migrate store %s to"
				 " schema version %d: %s", path, version + 1,
				 sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "cannot open store %s: %s", path,
		 sqlite3_errmsg(db));
	return -1;
}

/* Takes "<path>.lock" exclusively. flock, not fcntl: POSIX locks on the
 * database would be dropped when SQLite closes any fd of that file. */
static int take_lock(const char *path, char *err, size_t errlen)
{
	char lock[PATH_MAX];
	int fd;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    sizeof(lock)) {
		snprintf(err, errlen, "cannot open store %s: path too long",
			 path);
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open store %s: %s: %s", path,
			 lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "store %s is in use by another"
				 " opsbot (lock %s is held)", path, lock);
		else
			snprintf(err, errlen, "cannot open store %s: lock %s:"
				 " %s", path, lock, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Fails clearly when the directory is missing: the store lives on a
 * path the administrator set up, so creating it would hide a typo. */
static int check_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	if (slash == NULL)
		return 0;
	if ((size_t)(slash - path) >= sizeof(dir)) {
		snprintf(err, errlen, "cannot open store %s: path too long",
			 path);
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (dir[0] == '\0')
		return 0;
	if (stat(dir, &sb) != 0) {
		snprintf(err, errlen, "cannot open store %s: directory %s: %s",
			 path, dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "cannot open store %s: %s is not a"
			 " directory", path, dir);
		return -1;
	}
	return 0;
}

static int prepare_all(struct store *st, const char *path, char *err,
		       size_t errlen)
{
	for (int i = 0; i < S_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot open store %s: preparing"
				 " statement %d: %s", path, i,
				 sqlite3_errmsg(st->db));
			return -1;
		}
	}
	return 0;
}

/* A crash between a send and its commit leaves rows in SENDING: send them
 * again (at least once, never lost). */
static int reset_sending(struct store *st, int64_t now)
{
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(st->stmt[S_RESET_SENDING], 1, now);
	if (exec_stmt(st, S_RESET_SENDING, "resetting sending deliveries")
	    != 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

/* opsbot_fnmatch(pattern, text): 1 when fnmatch(3) matches, as mutes
 * and routes do; a NULL text is the empty source. */
static void sql_fnmatch(sqlite3_context *ctx, int argc, sqlite3_value **v)
{
	const char *pat = (const char *)sqlite3_value_text(v[0]);
	const char *txt = (const char *)sqlite3_value_text(v[1]);

	(void)argc;
	sqlite3_result_int(ctx, pat != NULL &&
			   fnmatch(pat, txt ? txt : "", 0) == 0);
}

static int add_functions(sqlite3 *db, char *err, size_t errlen,
			 const char *path)
{
	if (sqlite3_create_function(db, "opsbot_fnmatch", 2, SQLITE_UTF8 |
				    SQLITE_DETERMINISTIC, NULL, sql_fnmatch,
				    NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "cannot open store %s: %s", path,
		 sqlite3_errmsg(db));
	return -1;
}

int store_open(struct store **out, const char *path, int64_t now, char *err,
	       size_t errlen)
{
	struct store *st;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
		    SQLITE_OPEN_NOMUTEX;
	int fd;

	*out = NULL;
	if (check_dir(path, err, errlen) != 0)
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "cannot open store %s: out of memory",
			 path);
		return -1;
	}
	if ((st->lockfd = take_lock(path, err, errlen)) < 0) {
		free(st);
		return -1;
	}
	/* SQLite would create the database 0644 less the umask (0644 outside
	 * systemd), and gives its -wal and -shm the database's mode: created
	 * here 0600 first, none of them is readable by anyone else. An
	 * existing file keeps its mode; SQLite reports any open error. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open store %s: %s", path,
			 st->db != NULL ? sqlite3_errmsg(st->db) :
					  "out of memory");
		goto bad;
	}
	sqlite3_extended_result_codes(st->db, 1);
	if (configure(st->db, err, errlen, path) != 0 ||
	    migrate(st->db, path, err, errlen) != 0 ||
	    add_functions(st->db, err, errlen, path) != 0 ||
	    prepare_all(st, path, err, errlen) != 0)
		goto bad;
	if (reset_sending(st, now) != 0) {
		snprintf(err, errlen, "cannot open store %s: %s", path,
			 st->errmsg);
		goto bad;
	}
	*out = st;
	return 0;
bad:
	store_close(st);
	return -1;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->in_txn && st->db != NULL && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	/* Closing the fd releases the flock; the lock file stays (removing
	 * it would let two daemons lock two different files). */
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st);
}

/* --- transactions --- */

int store_begin(struct store *st)
{
	if (st->in_txn) {
		if (!sqlite3_get_autocommit(st->db))
			return 0;
		/* SQLite rolled back behind our back: what was written
		 * since begin is gone, so this turn's commit must fail. */
		st->txn_lost = 1;
	}
	if (exec_stmt(st, S_BEGIN, "begin") != 0)
		return -1;
	st->in_txn = 1;
	return 0;
}

/* Adds the transaction's inserts to counts (before its COMMIT). */
static int counts_flush(struct store *st)
{
	sqlite3_stmt *s = st->stmt[S_COUNT_ADD];

	for (int k = 0; k <= DS_COUNT; k++) {
		if (st->inserted[k] == 0)
			continue;
		sqlite3_bind_int(s, 1, k == DS_COUNT ? COUNT_K_ALERTS : k);
		sqlite3_bind_int64(s, 2, st->inserted[k]);
		if (exec_stmt(st, S_COUNT_ADD, "counting inserts") != 0)
			return -1;
		st->inserted[k] = 0;
	}
	return 0;
}

int store_commit(struct store *st)
{
	if (!st->in_txn)
		return 0;
	if (!st->txn_lost && !sqlite3_get_autocommit(st->db) &&
	    counts_flush(st) != 0)
		st->txn_lost = 1;
	if (st->txn_lost || sqlite3_get_autocommit(st->db)) {
		snprintf(st->errmsg, sizeof(st->errmsg), "commit: the"
			 " transaction was rolled back after an earlier error");
		store_rollback(st);
		st->commit_failed = 1;
		return -1;
	}
	if (exec_stmt(st, S_COMMIT, "commit") != 0) {
		char msg[sizeof(st->errmsg)];

		/* Keep COMMIT's error, not ROLLBACK's. */
		memcpy(msg, st->errmsg, sizeof(msg));
		store_rollback(st);
		memcpy(st->errmsg, msg, sizeof(msg));
		st->commit_failed = 1;
		return -1;
	}
	st->in_txn = 0;
	st->commit_failed = 0;
	return 0;
}

void store_rollback(struct store *st)
{
	if (st->in_txn && !sqlite3_get_autocommit(st->db))
		exec_stmt(st, S_ROLLBACK, "rollback");
	st->in_txn = 0;
	st->txn_lost = 0;
	memset(st->inserted, 0, sizeof(st->inserted));
}

int store_in_txn(const struct store *st)
{
	return st->in_txn;
}

/* Plain exec for the three savepoint statements (no parameters). */
static int exec_sql(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(st->errmsg, sizeof(st->errmsg), "%s: %s", what,
			 sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int store_savepoint(struct store *st)
{
	if (store_begin(st) != 0)
		return -1;
	/* inserts counted since, taken back if it is rolled back */
	memcpy(st->inserted_at_sp, st->inserted, sizeof(st->inserted));
	return exec_sql(st, "SAVEPOINT request", "savepoint");
}

int store_savepoint_release(struct store *st)
{
	return exec_sql(st, "RELEASE request", "release");
}

void store_savepoint_rollback(struct store *st)
{
	char msg[sizeof(st->errmsg)];

	/* Keep the error that made the caller give up. */
	memcpy(msg, st->errmsg, sizeof(msg));
	memcpy(st->inserted, st->inserted_at_sp, sizeof(st->inserted));
	if (sqlite3_get_autocommit(st->db) ||
	    exec_sql(st, "ROLLBACK TO request", "rollback to") != 0 ||
	    exec_sql(st, "RELEASE request", "release") != 0)
		st->txn_lost = 1; /* the turn's commit must fail */
	memcpy(st->errmsg, msg, sizeof(msg));
}

/* --- intake --- */

static int insert_deliveries(struct store *st, const struct alert *a,
			     const struct dest *dests, size_t ndests,
			     int state)
{
	sqlite3_stmt *s = st->stmt[S_DELIV_INSERT];

	for (size_t i = 0; i < ndests; i++) {
		sqlite3_bind_int64(s, 1, a->id);
		sqlite3_bind_int64(s, 2, dests[i].chat_id);
		bind_opt(s, 3, dests[i].thread_id);
		sqlite3_bind_int(s, 4, state);
		bind_opt(s, 5, state == DS_PENDING ? a->received_at : 0);
		sqlite3_bind_int64(s, 6, a->received_at);
		sqlite3_bind_int(s, 7, (int)a->severity);
		if (exec_stmt(st, S_DELIV_INSERT, "inserting delivery") != 0)
			return -1;
		/* OR IGNORE: a duplicate destination inserted nothing */
		st->inserted[state] += sqlite3_changes(st->db);
	}
	return 0;
}

int store_alert_insert(struct store *st, struct alert *a,
		       const struct dest *dests, size_t ndests, int state,
		       int64_t repeat_of)
{
	sqlite3_stmt *s = st->stmt[S_ALERT_INSERT];

	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, a->received_at);
	sqlite3_bind_int(s, 2, (int)a->severity);
	sqlite3_bind_int(s, 3, (int)a->status);
	bind_str(s, 4, a->source);
	bind_str(s, 5, a->title);
	bind_str(s, 6, a->text);
	bind_str(s, 7, a->key);
	bind_str(s, 8, a->url);
	bind_str(s, 9, a->labels);
	sqlite3_bind_int64(s, 10, a->peer_uid);
	sqlite3_bind_int64(s, 11, a->peer_pid);
	sqlite3_bind_int(s, 12, a->repeats);
	bind_opt(s, 13, repeat_of);
	bind_str(s, 14, a->meta);
	if (exec_stmt(st, S_ALERT_INSERT, "inserting alert") != 0)
		return -1;
	a->id = sqlite3_last_insert_rowid(st->db);
	/* Counted now: if it is taken out again below, the delete triggers
	 * count that. */
	st->inserted[DS_COUNT]++;
	if (insert_deliveries(st, a, dests, ndests, state) == 0)
		return 0;
	/* Take the half-written alert out again (its deliveries cascade)
	 * so the rest of the batch can still commit; if even that fails,
	 * the whole turn must. */
	sqlite3_bind_int64(st->stmt[S_ALERT_DELETE], 1, a->id);
	if (sqlite3_step(st->stmt[S_ALERT_DELETE]) != SQLITE_DONE)
		st->txn_lost = 1;
	sqlite3_reset(st->stmt[S_ALERT_DELETE]);
	a->id = 0;
	return -1;
}

int store_last_firing(struct store *st, const char *key, int64_t peer,
		      struct firing *out)
{
	int id = peer == STORE_ANY_PEER ? S_LAST_FIRING : S_LAST_FIRING_PEER;
	sqlite3_stmt *s = st->stmt[id];
	int rc;

	bind_str(s, 1, key);
	if (id == S_LAST_FIRING_PEER)
		sqlite3_bind_int64(s, 2, peer);
	if ((rc = step_one(st, s, "looking up firing key")) != 1)
		return rc;
	out->id = sqlite3_column_int64(s, 0);
	out->received_at = sqlite3_column_int64(s, 1);
	out->acked = sqlite3_column_int(s, 2);
	out->severity = sqlite3_column_int(s, 3);
	sqlite3_reset(s);
	return 1;
}

int store_bump_repeat(struct store *st, int64_t alert_id)
{
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(st->stmt[S_BUMP_REPEAT], 1, alert_id);
	return exec_stmt(st, S_BUMP_REPEAT, "counting repeat");
}

/* --- dispatch --- */

/* One skip-scan step: the first chat after `after` with due work.
 * 1 found, 0 no more, -1 error. */
static int next_chat(struct store *st, int64_t after, int64_t *chat,
		     int64_t *due_at)
{
	sqlite3_stmt *s = st->stmt[S_NEXT_CHAT];
	int rc;

	sqlite3_bind_int64(s, 1, after);
	if ((rc = step_one(st, s, "looking up due chats")) != 1)
		return rc;
	*chat = sqlite3_column_int64(s, 0);
	*due_at = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 1;
}

int64_t store_next_due(struct store *st, int64_t chat)
{
	int64_t best = 0, c = INT64_MIN, due;
	int rc;

	if (chat != 0) {
		sqlite3_bind_int64(st->stmt[S_NEXT_DUE_CHAT], 1, chat);
		if (query_int64(st, S_NEXT_DUE_CHAT, "looking up next due",
				&best) != 0)
			return -1;
		return best;
	}
	/* One index seek per chat with work; chats are few. */
	while ((rc = next_chat(st, c, &c, &due)) == 1)
		if (best == 0 || due < best)
			best = due;
	return rc < 0 ? -1 : best;
}

int store_due_chats(struct store *st, int64_t *chats, size_t max)
{
	int64_t c = INT64_MIN, due;
	size_t n = 0;
	int rc = 0;

	while (n < max && (rc = next_chat(st, c, &c, &due)) == 1)
		chats[n++] = c;
	return rc < 0 ? -1 : (int)n;
}

int store_due(struct store *st, int64_t chat, int64_t now,
	      struct due_item *items, size_t max)
{
	sqlite3_stmt *s = st->stmt[S_DUE];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int64(s, 1, chat);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_delivery(s, 0, &items[n].d);
		if (read_alert(s, DELIV_NCOLS, &items[n].a) != 0) {
			store_due_free(items, n);
			return sql_fail_msg(st, s, "loading due alerts",
					"out of memory");
		}
		n++;
	}
	if (n < max && rc != SQLITE_DONE) {
		store_due_free(items, n);
		return sql_fail(st, s, "loading due alerts");
	}
	sqlite3_reset(s);
	return (int)n;
}

void store_due_free(struct due_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		alert_free(&items[i].a);
}

int store_delivery_update(struct store *st, const struct delivery *d)
{
	sqlite3_stmt *s = st->stmt[S_DELIV_UPDATE];

	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, d->alert_id);
	sqlite3_bind_int64(s, 2, d->chat_id);
	bind_opt(s, 3, d->thread_id);
	sqlite3_bind_int(s, 4, d->state);
	sqlite3_bind_int(s, 5, d->flags);
	sqlite3_bind_int(s, 6, d->attempts);
	bind_opt(s, 7, d->due_at);
	bind_opt(s, 8, d->message_id);
	bind_opt(s, 9, d->sent_at);
	sqlite3_bind_int64(s, 10, d->updated_at);
	/* d lives until the reset in exec_stmt; NULL when there is none. */
	bind_str(s, 11, d->last_error[0] != '\0' ? d->last_error : NULL);
	sqlite3_bind_int(s, 12, d->parts_sent);
	return exec_stmt(st, S_DELIV_UPDATE, "updating delivery");
}

int store_migrate_chat(struct store *st, int64_t from, int64_t to)
{
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(st->stmt[S_MIGRATE_MOVE], 1, from);
	sqlite3_bind_int64(st->stmt[S_MIGRATE_MOVE], 2, to);
	if (exec_stmt(st, S_MIGRATE_MOVE, "migrating chat") != 0)
		return -1;
	/* What is left collided with a row the new chat already had. */
	sqlite3_bind_int64(st->stmt[S_MIGRATE_DROP], 1, from);
	return exec_stmt(st, S_MIGRATE_DROP, "migrating chat");
}

int store_original_delivery(struct store *st, const char *key, int64_t peer,
			    int64_t chat, int64_t before, struct delivery *out)
{
	int id = peer == STORE_ANY_PEER ? S_ORIG_DELIV : S_ORIG_DELIV_PEER;
	sqlite3_stmt *s = st->stmt[id];
	int rc;

	bind_str(s, 1, key);
	sqlite3_bind_int64(s, 2, chat);
	sqlite3_bind_int64(s, 3, before);
	if (id == S_ORIG_DELIV_PEER)
		sqlite3_bind_int64(s, 4, peer);
	if ((rc = step_one(st, s, "looking up original delivery")) != 1)
		return rc;
	read_delivery(s, 0, out);
	sqlite3_reset(s);
	return 1;
}

/* --- reading, for commands --- */

int store_alert_get(struct store *st, int64_t id, struct alert *out)
{
	sqlite3_stmt *s = st->stmt[S_ALERT_GET];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	if ((rc = step_one(st, s, "loading alert")) != 1)
		return rc;
	if (read_alert(s, 0, out) != 0)
		return sql_fail_msg(st, s, "loading alert", "out of memory");
	sqlite3_reset(s);
	return 1;
}

int store_deliveries(struct store *st, int64_t alert_id, struct delivery *out,
		     size_t max)
{
	sqlite3_stmt *s = st->stmt[S_DELIVERIES];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int64(s, 1, alert_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		read_delivery(s, 0, &out[n++]);
	return rows_end(st, s, rc, n, "loading deliveries");
}

int store_pack_rows(struct store *st, int64_t chat, int64_t message_id,
		    struct delivery *out, size_t max)
{
	sqlite3_stmt *s = st->stmt[S_PACK_ROWS];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int64(s, 1, chat);
	sqlite3_bind_int64(s, 2, message_id);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		read_delivery(s, 0, &out[n++]);
	return rows_end(st, s, rc, n, "loading a pack");
}

static int queue_by_severity(struct store *st, int64_t chat, int64_t now,
			     struct queue_summary *out)
{
	sqlite3_stmt *s = st->stmt[S_QUEUE_SEV];
	int rc, sev;

	sqlite3_bind_int64(s, 1, chat);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, STORE_SUMMARY_ROWS);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sev = sqlite3_column_int(s, 0);
		if (sev >= 0 && sev < SEV_COUNT) {
			out->by_severity[sev] = sqlite3_column_int64(s, 1);
			out->total += out->by_severity[sev];
		}
	}
	if (rc != SQLITE_DONE)
		return sql_fail(st, s, "summarising the queue");
	sqlite3_reset(s);
	return 0;
}

int store_queue_summary(struct store *st, int64_t chat, int64_t now,
			struct queue_summary *out)
{
	sqlite3_stmt *s = st->stmt[S_QUEUE_SRC];
	int rc = SQLITE_DONE;

	memset(out, 0, sizeof(*out));
	if (queue_by_severity(st, chat, now, out) != 0)
		return -1;
	out->capped = out->total >= STORE_SUMMARY_ROWS;
	sqlite3_bind_int64(s, 1, chat);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, STORE_SUMMARY_ROWS);
	sqlite3_bind_int(s, 4, STORE_SUMMARY_SOURCES);
	while (out->nsources < STORE_SUMMARY_SOURCES &&
	       (rc = sqlite3_step(s)) == SQLITE_ROW) {
		col_copy(s, 0, out->sources[out->nsources].source,
			 sizeof(out->sources[0].source));
		out->sources[out->nsources++].n = sqlite3_column_int64(s, 1);
	}
	if (out->nsources < STORE_SUMMARY_SOURCES && rc != SQLITE_DONE)
		return sql_fail(st, s, "summarising the queue");
	sqlite3_reset(s);
	return 0;
}

static int recent(struct store *st, int id, int64_t chat, int min_severity,
		  const char *source_glob, struct alert *out, size_t max)
{
	sqlite3_stmt *s = st->stmt[id];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int(s, 1, min_severity);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	if (source_glob != NULL)
		bind_str(s, 3, source_glob);
	else
		sqlite3_bind_null(s, 3);
	if (id == S_RECENT_CHAT)
		sqlite3_bind_int64(s, 4, chat);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (read_alert(s, 0, &out[n]) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		while (n > 0)
			alert_free(&out[--n]);
		return rc == SQLITE_NOMEM ?
			sql_fail_msg(st, s, "loading alerts", "out of memory") :
			sql_fail(st, s, "loading alerts");
	}
	sqlite3_reset(s);
	return (int)n;
}

int store_recent(struct store *st, int min_severity, struct alert *out,
		 size_t max)
{
	return recent(st, S_RECENT, 0, min_severity, NULL, out, max);
}

int store_recent_match(struct store *st, int min_severity,
		       const char *source_glob, struct alert *out, size_t max)
{
	return recent(st, S_RECENT, 0, min_severity, source_glob, out, max);
}

int store_recent_chat(struct store *st, int64_t chat, int min_severity,
		      const char *source_glob, struct alert *out, size_t max)
{
	return recent(st, S_RECENT_CHAT, chat, min_severity, source_glob, out,
		      max);
}

static int stats_states(struct store *st, struct store_stats *out)
{
	sqlite3_stmt *s = st->stmt[S_STATS_STATES];
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int k = sqlite3_column_int(s, 0);

		if (k >= 0 && k < DS_COUNT)
			out->by_state[k] = sqlite3_column_int64(s, 1) +
					   st->inserted[k];
	}
	if (rc != SQLITE_DONE)
		return sql_fail(st, s, "counting deliveries");
	sqlite3_reset(s);
	return 0;
}

/* The oldest undelivered alert is the one with the smallest id among
 * due rows (ids grow with arrival, and received_at is the arrival time):
 * the minimum over each chat's queue per severity, found by index seeks
 * instead of a join over every due row. */
static int stats_oldest(struct store *st, struct store_stats *out)
{
	sqlite3_stmt *s = st->stmt[S_STATS_OLDEST];
	int64_t chat = INT64_MIN, due, id, oldest = 0;
	int rc;

	while ((rc = next_chat(st, chat, &chat, &due)) == 1) {
		for (int sev = 0; sev < SEV_COUNT; sev++) {
			sqlite3_bind_int64(s, 1, chat);
			sqlite3_bind_int(s, 2, sev);
			if (query_int64(st, S_STATS_OLDEST, "finding oldest"
					" undelivered", &id) != 0)
				return -1;
			if (id != 0 && (oldest == 0 || id < oldest))
				oldest = id;
		}
	}
	if (rc < 0)
		return -1;
	out->oldest_undelivered = 0;
	if (oldest == 0)
		return 0;
	sqlite3_bind_int64(st->stmt[S_RECEIVED_AT], 1, oldest);
	return query_int64(st, S_RECEIVED_AT, "finding oldest undelivered",
			   &out->oldest_undelivered);
}

static int stats_sent(struct store *st, int64_t now, struct store_stats *out)
{
	sqlite3_stmt *s = st->stmt[S_STATS_SENT];

	sqlite3_bind_int64(s, 1, (now - 3600 * 1000) / 60000);
	sqlite3_bind_int64(s, 2, (now - 24 * 3600 * 1000) / 60000);
	if (sqlite3_step(s) != SQLITE_ROW)
		return sql_fail(st, s, "counting sent deliveries");
	out->sent_hour = sqlite3_column_int64(s, 0);
	out->sent_day = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

int store_stats(struct store *st, int64_t now, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (stats_states(st, out) != 0 ||
	    query_int64(st, S_STATS_ALERTS, "counting alerts",
			&out->alerts) != 0 ||
	    stats_oldest(st, out) != 0 ||
	    query_int64(st, S_STATS_RETRY, "finding next retry",
			&out->next_retry) != 0 ||
	    stats_sent(st, now, out) != 0 ||
	    query_int64(st, S_STATS_BYTES, "measuring database",
			&out->db_bytes) != 0)
		return -1;
	out->alerts += st->inserted[DS_COUNT]; /* this turn's, not yet in */
	return 0;
}

int store_ack_get(struct store *st, int64_t alert_id, char *by, size_t bylen,
		  int64_t *at)
{
	sqlite3_stmt *s = st->stmt[S_ACK_GET];
	int rc, acked = 0;

	sqlite3_bind_int64(s, 1, alert_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(st, s, "loading ack");
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		acked = 1;
		if (by != NULL && bylen > 0)
			col_copy(s, 0, by, bylen);
		if (at != NULL)
			*at = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return acked;
}

/* --- operator actions --- */

int store_retry_now(struct store *st, int64_t alert_id, int64_t now)
{
	int id = alert_id != 0 ? S_RETRY_ONE : S_RETRY_ALL;
	sqlite3_stmt *s = st->stmt[id];

	if (store_begin(st) != 0)
		return -1;
	if (alert_id != 0) {
		sqlite3_bind_int64(s, 1, alert_id);
		sqlite3_bind_int64(s, 2, now);
	} else {
		sqlite3_bind_int64(s, 1, now);
	}
	if (exec_stmt(st, id, "retrying deliveries") != 0)
		return -1;
	return sqlite3_changes(st->db);
}

int store_ack(struct store *st, int64_t alert_id, const char *by, int64_t at)
{
	sqlite3_stmt *s = st->stmt[S_ACK];

	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, alert_id);
	bind_str(s, 2, by);
	sqlite3_bind_int64(s, 3, at);
	if (exec_stmt(st, S_ACK, "recording ack") != 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 0 : 1;
}

int store_mute_add(struct store *st, struct mute *m)
{
	sqlite3_stmt *s = st->stmt[S_MUTE_ADD];

	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, m->until);
	bind_str(s, 2, m->source);
	sqlite3_bind_int(s, 3, m->max_severity);
	bind_str(s, 4, m->created_by);
	sqlite3_bind_int64(s, 5, m->created_at);
	sqlite3_bind_int64(s, 6, m->held);
	if (exec_stmt(st, S_MUTE_ADD, "adding mute") != 0)
		return -1;
	m->id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static int load_mutes(struct store *st, int id, int64_t now, struct mute *out,
		      size_t max)
{
	sqlite3_stmt *s = st->stmt[id];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		read_mute(s, &out[n++]);
	return rows_end(st, s, rc, n, "loading mutes");
}

int store_mutes(struct store *st, int64_t now, struct mute *out, size_t max)
{
	return load_mutes(st, S_MUTES, now, out, max);
}

int store_mute_del(struct store *st, int64_t id)
{
	if (store_begin(st) != 0)
		return -1;
	if (id == 0)
		return exec_stmt(st, S_MUTE_DEL_ALL, "deleting mutes") != 0 ?
			-1 : sqlite3_changes(st->db);
	sqlite3_bind_int64(st->stmt[S_MUTE_DEL], 1, id);
	if (exec_stmt(st, S_MUTE_DEL, "deleting mute") != 0)
		return -1;
	return sqlite3_changes(st->db);
}

int store_mutes_expire(struct store *st, int64_t now, struct mute *out,
		       size_t max)
{
	int n;

	if (store_begin(st) != 0)
		return -1;
	if ((n = load_mutes(st, S_MUTES_EXPIRED, now, out, max)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		sqlite3_bind_int64(st->stmt[S_MUTE_DEL], 1, out[i].id);
		if (exec_stmt(st, S_MUTE_DEL, "expiring mute") != 0)
			return -1;
	}
	return n;
}

int store_mute_hold(struct store *st, int64_t mute_id)
{
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(st->stmt[S_MUTE_HOLD], 1, mute_id);
	return exec_stmt(st, S_MUTE_HOLD, "counting held delivery");
}

/* --- small state --- */

int store_kv_get(struct store *st, const char *key, char *val, size_t vlen)
{
	sqlite3_stmt *s = st->stmt[S_KV_GET];
	int rc;

	bind_str(s, 1, key);
	if ((rc = step_one(st, s, "reading state")) != 1)
		return rc;
	/* A cut value (an offset, a token) would be wrong, not short. */
	if ((size_t)sqlite3_column_bytes(s, 0) >= vlen)
		return sql_fail_msg(st, s, "reading state", "value too long");
	col_copy(s, 0, val, vlen);
	sqlite3_reset(s);
	return 1;
}

int store_kv_set(struct store *st, const char *key, const char *val)
{
	sqlite3_stmt *s = st->stmt[S_KV_SET];

	if (store_begin(st) != 0)
		return -1;
	bind_str(s, 1, key);
	bind_str(s, 2, val);
	return exec_stmt(st, S_KV_SET, "writing state");
}

int store_block_set(struct store *st, int64_t chat, int64_t until)
{
	sqlite3_stmt *s = st->stmt[S_BLOCK_SET];

	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, chat);
	sqlite3_bind_int64(s, 2, until);
	return exec_stmt(st, S_BLOCK_SET, "recording 429 block");
}

int store_blocks(struct store *st, int64_t now, struct store_block *out,
		 size_t max)
{
	sqlite3_stmt *s = st->stmt[S_BLOCKS];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (max > INT_MAX)
		max = INT_MAX;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		out[n].chat = sqlite3_column_int64(s, 0);
		out[n].until = sqlite3_column_int64(s, 1);
		n++;
	}
	return rows_end(st, s, rc, n, "loading 429 blocks");
}

int store_tidy(struct store *st, int64_t now)
{
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(st->stmt[S_BLOCKS_EXPIRE], 1, now);
	if (exec_stmt(st, S_BLOCKS_EXPIRE, "expiring 429 blocks") != 0)
		return -1;
	/* Two days of minutes: more than "sent in the last day" reads. */
	sqlite3_bind_int64(st->stmt[S_SENT_EXPIRE], 1,
			   (now - 48 * 3600 * 1000LL) / 60000);
	return exec_stmt(st, S_SENT_EXPIRE, "expiring sent counts");
}

int store_healthy(const struct store *st)
{
	return !st->commit_failed;
}

int store_prune(struct store *st, int64_t cutoff, int batch)
{
	sqlite3_stmt *s = st->stmt[S_PRUNE];

	if (batch <= 0)
		return 0;
	if (store_begin(st) != 0)
		return -1;
	sqlite3_bind_int64(s, 1, cutoff);
	sqlite3_bind_int(s, 2, batch);
	if (exec_stmt(st, S_PRUNE, "pruning alerts") != 0)
		return -1;
	return sqlite3_changes(st->db);
}

/* --- Alertmanager silences (rare: statements prepared per call) --- */

#define SILENCE_COLS \
	"id, silence_id, peer, alert_id, matchers, created_by, created_at," \
	" ends_at, gone, url"

static void read_silence(sqlite3_stmt *s, struct silence *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(s, 0);
	col_copy(s, 1, out->silence_id, sizeof(out->silence_id));
	col_copy(s, 2, out->peer, sizeof(out->peer));
	out->alert_id = sqlite3_column_int64(s, 3);
	col_copy(s, 4, out->matchers, sizeof(out->matchers));
	col_copy(s, 5, out->created_by, sizeof(out->created_by));
	out->created_at = sqlite3_column_int64(s, 6);
	out->ends_at = sqlite3_column_int64(s, 7);
	out->gone = sqlite3_column_int(s, 8);
	col_copy(s, 9, out->url, sizeof(out->url));
}

static sqlite3_stmt *prepare(struct store *st, const char *sql,
			     const char *what)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sql_fail(st, NULL, what);
		return NULL;
	}
	return s;
}

/* Steps a statement without rows and finalizes it. */
static int exec_once(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_fail(st, s, what);

	sqlite3_finalize(s);
	return rc;
}

int store_silence_add(struct store *st, struct silence *si)
{
	sqlite3_stmt *s;

	if (store_begin(st) != 0 || (s = prepare(st,
	    "INSERT INTO silences (silence_id, peer, alert_id, matchers,"
	    " created_by, created_at, ends_at, gone, url)"
	    " VALUES (?,?,?,?,?,?,?,0,?)", "adding silence")) == NULL)
		return -1;
	bind_str(s, 1, si->silence_id);
	bind_str(s, 2, si->peer);
	bind_opt(s, 3, si->alert_id);
	bind_str(s, 4, si->matchers);
	bind_str(s, 5, si->created_by);
	sqlite3_bind_int64(s, 6, si->created_at);
	sqlite3_bind_int64(s, 7, si->ends_at);
	bind_str(s, 8, si->url);
	if (exec_once(st, s, "adding silence") != 0)
		return -1;
	si->id = sqlite3_last_insert_rowid(st->db);
	si->gone = 0;
	return 0;
}

int store_silence_get(struct store *st, int64_t id, const char *silence_id,
		      struct silence *out)
{
	sqlite3_stmt *s = prepare(st, "SELECT " SILENCE_COLS " FROM silences"
				  " WHERE id = ?1 OR silence_id = ?2"
				  " ORDER BY id DESC LIMIT 1",
				  "reading silence");
	int rc;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_str(s, 2, silence_id ? silence_id : "");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_silence(s, out);
	else if (rc != SQLITE_DONE)
		sql_fail(st, s, "reading silence");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_silences(struct store *st, int64_t now, struct silence *out,
		   size_t max)
{
	sqlite3_stmt *s = prepare(st, "SELECT " SILENCE_COLS " FROM silences"
				  " WHERE gone = 0 AND ends_at > ?"
				  " ORDER BY id LIMIT ?", "listing silences");
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(max > INT_MAX ? INT_MAX : max));
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		read_silence(s, &out[n++]);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sql_fail(st, s, "listing silences");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? (int)n : -1;
}

int store_silence_gone(struct store *st, int64_t id)
{
	sqlite3_stmt *s;

	if (store_begin(st) != 0 || (s = prepare(st,
	    "UPDATE silences SET gone = 1 WHERE id = ?",
	    "ending silence")) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return exec_once(st, s, "ending silence");
}

/* --- relay mode (bot/relay.c): the queue is the alerts table itself --- */

/* Runs a query of whole alerts (ALERT_COLS) with its parameters bound. */
static int load_alerts(struct store *st, sqlite3_stmt *s, struct alert *out,
		       size_t max, const char *what)
{
	size_t n = 0;
	int rc = SQLITE_DONE;

	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (read_alert(s, 0, &out[n]) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sql_fail_msg(st, NULL, what, rc == SQLITE_NOMEM ?
			     "out of memory" : sqlite3_errmsg(st->db));
		while (n > 0)
			alert_free(&out[--n]);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return (int)n;
}

int store_alerts_after(struct store *st, int64_t after, int64_t upto,
		       struct alert *out, size_t max)
{
	sqlite3_stmt *s = prepare(st, "SELECT " ALERT_COLS " FROM alerts a"
				  " WHERE a.id > ? AND a.id <= ?"
				  " ORDER BY a.id LIMIT ?",
				  "reading the relay queue");

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, upto);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)(max > INT_MAX ? INT_MAX : max));
	return load_alerts(st, s, out, max, "reading the relay queue");
}

int64_t store_alerts_count_after(struct store *st, int64_t after,
				 int64_t upto)
{
	sqlite3_stmt *s = prepare(st, "SELECT count(*) FROM alerts WHERE"
				  " id > ? AND id <= ?",
				  "counting the relay queue");
	int64_t n = -1;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, upto);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		sql_fail(st, NULL, "counting the relay queue");
	sqlite3_finalize(s);
	return n;
}

int store_firing_after(struct store *st, int64_t after, int64_t upto,
		       struct alert *out, size_t max)
{
	/* Originals of a key (alerts_firing index) with no resolution and
	 * no newer original of the same key after them. */
	sqlite3_stmt *s = prepare(st, "SELECT " ALERT_COLS " FROM alerts a"
				  " WHERE a.key IS NOT NULL AND a.status = "
				  SQL_FIRING " AND a.repeat_of IS NULL"
				  " AND a.id > ?1 AND a.id <= ?2"
				  " AND NOT EXISTS (SELECT 1 FROM alerts r"
				  "  WHERE r.key = a.key AND r.status = "
				  SQL_RESOLVED " AND r.id > a.id)"
				  " AND NOT EXISTS (SELECT 1 FROM alerts n"
				  "  WHERE n.key = a.key AND n.status = "
				  SQL_FIRING " AND n.repeat_of IS NULL"
				  "  AND n.id > a.id)"
				  " ORDER BY a.id LIMIT ?3",
				  "reading firing alerts");

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, upto);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)(max > INT_MAX ? INT_MAX : max));
	return load_alerts(st, s, out, max, "reading firing alerts");
}

int store_original_at(struct store *st, const char *key, int64_t at,
		      struct alert *out)
{
	sqlite3_stmt *s = prepare(st, "SELECT " ALERT_COLS " FROM alerts a"
				  " WHERE a.key = ? AND a.status = " SQL_FIRING
				  " AND a.repeat_of IS NULL AND a.id <= ?"
				  " ORDER BY a.id DESC LIMIT 1",
				  "reading an original alert");

	if (s == NULL)
		return -1;
	bind_str(s, 1, key);
	sqlite3_bind_int64(s, 2, at);
	return load_alerts(st, s, out, 1, "reading an original alert");
}

int64_t store_max_alert_id(struct store *st)
{
	sqlite3_stmt *s = prepare(st, "SELECT max(id) FROM alerts",
				  "reading the newest alert id");
	int64_t n = -1;

	if (s == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		sql_fail(st, NULL, "reading the newest alert id");
	sqlite3_finalize(s);
	return n;
}

int store_resolved_start(struct store *st, const char *key,
			 const char *starts_at, int64_t *orig)
{
	sqlite3_stmt *s = prepare(st, "SELECT (SELECT f.id FROM alerts f"
				  "  WHERE f.key = r.key AND f.status = "
				  SQL_FIRING " AND f.repeat_of IS NULL"
				  "  AND f.id < r.id ORDER BY f.id DESC LIMIT 1)"
				  " FROM alerts r WHERE r.key = ?1 AND r.status"
				  " = " SQL_RESOLVED " AND r.meta IS NOT NULL"
				  " AND json_valid(r.meta)"
				  " AND json_extract(r.meta, '$.startsAt') = ?2"
				  " ORDER BY r.id DESC LIMIT 1",
				  "looking up a resolution");
	int rc;

	if (s == NULL)
		return -1;
	bind_str(s, 1, key);
	bind_str(s, 2, starts_at);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*orig = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		sql_fail(st, NULL, "looking up a resolution");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
