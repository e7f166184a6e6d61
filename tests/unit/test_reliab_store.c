/*
 * test_reliab_store.c - unit tests for the store parts of issue 16
 * (alerts/store.c, schema v4) against a real SQLite database in a
 * temporary directory:
 * - /status's counts are kept by triggers: exact after inserts, state
 *   changes, cascaded deletes (prune) and a rollback; seeded by the
 *   migration from an older store;
 * - no status query, nor the scoped key lookups or the per-chat listing,
 *   scans deliveries or alerts (EXPLAIN QUERY PLAN);
 * - keys scoped by sender: a resolve from another uid ends nothing;
 * - 429 blocks persist, only extend, and expire;
 * - parts_sent survives a crash (SENDING back to PENDING).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/store.c"
#include "alerts/alert.c"
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "fixture.h"

#define CHAT_A (-1001000000001LL)
#define CHAT_B (-1001000000002LL)
#define T0 1700000000000LL

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "reliab") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static void open_store(struct fx *f, int64_t now)
{
	store_close(f->st);
	f->st = NULL;
	if (store_open(&f->st, f->path, now, f->err, sizeof(f->err)) != 0)
		fail_msg("store_open: %s", f->err);
}

static int64_t sql_int(struct store *st, const char *q)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(st->db, q, -1, &s, NULL),
			 SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int64_t add(struct store *st, enum severity sev, int status,
		   const char *key, int64_t uid, int64_t at,
		   const int64_t *chats, size_t n, int state)
{
	struct dest d[4];
	struct alert a;

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++) {
		d[i].chat_id = chats[i];
		d[i].thread_id = 0;
	}
	fx_alert(&a, sev, "db1", "disk full", "x", at);
	a.status = (enum alert_status)status;
	a.key = fx_strdup(key);
	a.peer_uid = uid;
	int64_t id;

	assert_int_equal(store_alert_insert(st, &a, d, n, state, 0), 0);
	id = a.id;
	alert_free(&a);
	return id;
}

static struct delivery get(struct store *st, int64_t id, int64_t chat)
{
	struct delivery dl[8];
	int n = store_deliveries(st, id, dl, 8);

	for (int i = 0; i < n; i++)
		if (dl[i].chat_id == chat)
			return dl[i];
	fail_msg("no delivery %lld/%lld", (long long)id, (long long)chat);
	return dl[0];
}

/* The trigger-kept counts equal what a scan counts. */
static void assert_counts_exact(struct store *st)
{
	struct store_stats s;
	char q[128];

	assert_int_equal(store_stats(st, T0, &s), 0);
	assert_int_equal(s.alerts, sql_int(st, "SELECT COUNT(*) FROM alerts"));
	for (int k = 0; k < DS_COUNT; k++) {
		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM deliveries"
			 " WHERE state = %d", k);
		assert_int_equal(s.by_state[k], sql_int(st, q));
	}
}

static void test_counts_follow_every_change(void **state)
{
	struct fx *f = *state;
	int64_t both[2] = { CHAT_A, CHAT_B }, ids[6];
	struct delivery d;
	struct store_stats s;

	open_store(f, T0);
	for (int i = 0; i < 6; i++)
		ids[i] = add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1,
			     T0 - 40 * 86400000LL + i, both, 2,
			     i == 5 ? DS_MUTED : DS_PENDING);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.alerts, 6);
	assert_int_equal(s.by_state[DS_PENDING], 10);
	assert_int_equal(s.by_state[DS_MUTED], 2);
	assert_counts_exact(f->st);

	/* state changes, one sent */
	for (int i = 0; i < 3; i++) {
		d = get(f->st, ids[i], CHAT_A);
		d.state = DS_SENT;
		d.due_at = 0;
		d.message_id = 10 + i;
		d.sent_at = T0 - 60000;
		assert_int_equal(store_delivery_update(f->st, &d), 0);
	}
	d = get(f->st, ids[3], CHAT_A);
	d.state = DS_FAILED;
	d.due_at = 0;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	/* the same state again counts nothing */
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_counts_exact(f->st);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.by_state[DS_SENT], 3);
	assert_int_equal(s.by_state[DS_FAILED], 1);
	assert_int_equal(s.sent_hour, 3);

	/* a rollback takes its counts back with it */
	add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, both, 2, DS_PENDING);
	store_rollback(f->st);
	assert_counts_exact(f->st);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.alerts, 6);

	/* so does a savepoint's (an HTTP request refused whole) */
	assert_int_equal(store_savepoint(f->st), 0);
	add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, both, 2, DS_PENDING);
	store_savepoint_rollback(f->st);
	add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, both, 2, DS_MUTED);
	assert_int_equal(store_commit(f->st), 0);
	assert_counts_exact(f->st);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.alerts, 7);
	assert_int_equal(s.by_state[DS_MUTED], 4);

	/* prune: alerts go, their deliveries cascade */
	for (int i = 0; i < 6; i++) {
		for (int c = 0; c < 2; c++) {
			d = get(f->st, ids[i], both[c]);
			if (d.state == DS_PENDING) {
				d.state = DS_FAILED;
				d.due_at = 0;
				assert_int_equal(
					store_delivery_update(f->st, &d), 0);
			}
		}
	}
	assert_int_equal(store_prune(f->st, T0 - 30 * 86400000LL, 4), 4);
	assert_int_equal(store_commit(f->st), 0);
	assert_counts_exact(f->st);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.alerts, 3);
	assert_int_equal(s.by_state[DS_SENT], 0);
	/* sent counts are history: pruning the rows keeps them */
	assert_int_equal(s.sent_hour, 3);

	/* and a store migrated or not, the counts survive a reopen */
	open_store(f, T0);
	assert_counts_exact(f->st);
}

/* A store of schema v2 full of rows migrates to v4 with its counts. */
static void test_counts_seeded_by_migration(void **state)
{
	struct fx *f = *state;
	struct store_stats s;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v2, NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
		" FROM n WHERE i < 300)"
		" INSERT INTO alerts (id, received_at, severity, status)"
		" SELECT i, 1700000000000 + i, 1, 0 FROM n;"
		"INSERT INTO deliveries (alert_id, chat_id, state, due_at,"
		" updated_at, severity, sent_at, message_id)"
		" SELECT id, -1001000000001, id % 3,"
		" CASE WHEN id % 3 = 0 THEN received_at END, received_at, 1,"
		" CASE WHEN id % 3 = 2 THEN 1700000000000 - 60000 END,"
		" CASE WHEN id % 3 = 2 THEN id END FROM alerts;"
		"PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	open_store(f, T0);
	assert_int_equal(sql_int(f->st, "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
	assert_counts_exact(f->st);
	assert_int_equal(store_stats(f->st, T0, &s), 0);
	assert_int_equal(s.alerts, 300);
	/* the 100 SENDING ones went back to PENDING at open */
	assert_int_equal(s.by_state[DS_PENDING], 200);
	assert_int_equal(s.by_state[DS_SENDING], 0);
	assert_int_equal(s.by_state[DS_SENT], 100);
	assert_int_equal(s.sent_hour, 100);
	assert_int_equal(s.sent_day, 100);
}

/* Every plan line of statement id; fails the test on a full scan of
 * deliveries or alerts (d, a, r are their aliases; "SCAN f" is the one
 * row of a LIMIT 1 subquery). */
static void assert_no_scan(struct store *st, int id)
{
	char q[4096];
	sqlite3_stmt *s;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", stmt_sql[id]);
	assert_int_equal(sqlite3_prepare_v2(st->db, q, -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(s, 3);

		if (getenv("STORE_SHOW_PLAN"))
			printf("    %d: %s\n", id, d);
		/* a walk of the whole primary key is a scan too */
		if (strcmp(d, "SEARCH deliveries USING PRIMARY KEY") == 0)
			fail_msg("statement %d walks deliveries: %s", id,
				 stmt_sql[id]);
		if (strncmp(d, "SCAN", 4) == 0 &&
		    (strstr(d, "deliveries") || strstr(d, "alerts") ||
		     strcmp(d, "SCAN d") == 0 || strcmp(d, "SCAN a") == 0 ||
		     strcmp(d, "SCAN r") == 0))
			fail_msg("statement %d scans: %s\n%s", id, d,
				 stmt_sql[id]);
	}
	sqlite3_finalize(s);
}

static void test_status_queries_never_scan(void **state)
{
	struct fx *f = *state;
	static const int ids[] = {
		S_STATS_STATES, S_STATS_ALERTS, S_STATS_OLDEST,
		S_RECEIVED_AT, S_STATS_RETRY, S_STATS_SENT, S_STATS_BYTES,
		S_NEXT_CHAT, S_LAST_FIRING, S_LAST_FIRING_PEER, S_ORIG_DELIV,
		S_ORIG_DELIV_PEER, S_RECENT_CHAT, S_BLOCKS,
	};
	int64_t chats[1] = { CHAT_A };

	open_store(f, T0);
	/* Enough rows for the planner to mean it. */
	for (int i = 0; i < 200; i++)
		add(f->st, SEV_ERROR, i % 2, i % 3 ? "k" : "j", 1000 + i % 4,
		    T0 + i, chats, 1, DS_PENDING);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(sqlite3_exec(f->st->db, "ANALYZE", NULL, NULL, NULL),
			 SQLITE_OK);
	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		assert_no_scan(f->st, ids[i]);
	/* and the old counting statement would have: the check bites */
	{
		sqlite3_stmt *s;
		int scans = 0;

		assert_int_equal(sqlite3_prepare_v2(f->st->db,
			"EXPLAIN QUERY PLAN SELECT SUM(state = 0) FROM"
			" deliveries", -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW)
			scans += strncmp((const char *)
					 sqlite3_column_text(s, 3), "SCAN", 4)
				 == 0;
		sqlite3_finalize(s);
		assert_true(scans > 0);
	}
}

/* Keys of uid 1000 and uid 2000 are apart; "shared" sees one space. */
static void test_key_scope_by_peer(void **state)
{
	struct fx *f = *state;
	int64_t chats[1] = { CHAT_A };
	int64_t mine, theirs;
	struct firing fr;
	struct delivery d, out;

	open_store(f, T0);
	mine = add(f->st, SEV_WARNING, ALERT_FIRING, "disk", 1000, T0,
		   chats, 1, DS_PENDING);
	theirs = add(f->st, SEV_CRITICAL, ALERT_FIRING, "disk", 2000, T0 + 1,
		     chats, 1, DS_PENDING);
	assert_int_equal(store_last_firing(f->st, "disk", 1000, &fr), 1);
	assert_int_equal(fr.id, mine);
	assert_int_equal(fr.severity, SEV_WARNING);
	assert_int_equal(store_last_firing(f->st, "disk", 2000, &fr), 1);
	assert_int_equal(fr.id, theirs);
	assert_int_equal(store_last_firing(f->st, "disk", STORE_ANY_PEER,
					   &fr), 1);
	assert_int_equal(fr.id, theirs);
	assert_int_equal(store_last_firing(f->st, "disk", 3000, &fr), 0);

	/* uid 2000 resolves "disk": its own alert, not uid 1000's */
	add(f->st, SEV_CRITICAL, ALERT_RESOLVED, "disk", 2000, T0 + 2, chats,
	    1, DS_PENDING);
	assert_int_equal(store_last_firing(f->st, "disk", 2000, &fr), 0);
	assert_int_equal(store_last_firing(f->st, "disk", 1000, &fr), 1);
	assert_int_equal(fr.id, mine);
	assert_int_equal(store_last_firing(f->st, "disk", STORE_ANY_PEER,
					   &fr), 0);

	/* the original a resolution edits: the sender's own */
	d = get(f->st, mine, CHAT_A);
	d.state = DS_SENT;
	d.due_at = 0;
	d.message_id = 77;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_original_delivery(f->st, "disk", 2000, CHAT_A,
						 T0 + 100000, &out), 0);
	assert_int_equal(store_original_delivery(f->st, "disk", 1000, CHAT_A,
						 INT64_MAX, &out), 1);
	assert_int_equal(out.message_id, 77);
	assert_int_equal(store_original_delivery(f->st, "disk",
						 STORE_ANY_PEER, CHAT_A,
						 INT64_MAX, &out), 1);
	assert_int_equal(store_commit(f->st), 0);
}

static void test_blocks_persist_extend_expire(void **state)
{
	struct fx *f = *state;
	struct store_block b[4];

	open_store(f, T0);
	assert_int_equal(store_block_set(f->st, CHAT_A, T0 + 30000), 0);
	assert_int_equal(store_block_set(f->st, 0, T0 + 5000), 0);
	/* shorter: ignored; longer: extends */
	assert_int_equal(store_block_set(f->st, CHAT_A, T0 + 10000), 0);
	assert_int_equal(store_block_set(f->st, 0, T0 + 8000), 0);
	assert_int_equal(store_commit(f->st), 0);
	open_store(f, T0 + 1000); /* a restart */
	assert_int_equal(store_blocks(f->st, T0 + 1000, b, 4), 2);
	assert_int_equal(b[0].chat, CHAT_A);
	assert_int_equal(b[0].until, T0 + 30000);
	assert_int_equal(b[1].chat, 0);
	assert_int_equal(b[1].until, T0 + 8000);
	/* over: not returned, then forgotten */
	assert_int_equal(store_blocks(f->st, T0 + 9000, b, 4), 1);
	assert_int_equal(store_tidy(f->st, T0 + 9000), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM blocks"), 1);
}

static void test_parts_sent_survive_a_crash(void **state)
{
	struct fx *f = *state;
	int64_t chats[1] = { CHAT_A };
	struct delivery d;
	int64_t id;

	open_store(f, T0);
	id = add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, chats, 1,
		 DS_PENDING);
	d = get(f->st, id, CHAT_A);
	d.state = DS_SENDING;
	d.due_at = 0;
	d.parts_sent = 4;
	d.message_id = 901;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_commit(f->st), 0);
	open_store(f, T0 + 5); /* kill -9, restart */
	d = get(f->st, id, CHAT_A);
	assert_int_equal(d.state, DS_PENDING);
	assert_int_equal(d.parts_sent, 4);
	assert_int_equal(d.message_id, 901);
}

static void test_recent_chat(void **state)
{
	struct fx *f = *state;
	int64_t a[1] = { CHAT_A }, b[1] = { CHAT_B }, ab[2] = { CHAT_A,
								CHAT_B };
	int64_t id1, id3;
	struct alert out[8];
	int n;

	open_store(f, T0);
	id1 = add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, a, 1,
		  DS_PENDING);
	add(f->st, SEV_CRITICAL, ALERT_FIRING, NULL, -1, T0, b, 1, DS_PENDING);
	id3 = add(f->st, SEV_INFO, ALERT_FIRING, NULL, -1, T0, ab, 2,
		  DS_MUTED);
	n = store_recent_chat(f->st, CHAT_A, -1, NULL, out, 8);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, id3);
	assert_int_equal(out[1].id, id1);
	for (int i = 0; i < n; i++)
		alert_free(&out[i]);
	n = store_recent_chat(f->st, CHAT_A, SEV_ERROR, NULL, out,
			      8);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].id, id1);
	alert_free(&out[0]);
	assert_int_equal(store_recent_chat(f->st, 999, -1, NULL, out, 8), 0);
	/* with a source glob: db1 is the only source here */
	assert_int_equal(store_recent_chat(f->st, CHAT_A, -1, "web*", out, 8),
			 0);
	n = store_recent_chat(f->st, CHAT_A, -1, "db*", out, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		alert_free(&out[i]);
	assert_int_equal(store_commit(f->st), 0);
}

/* The health flag follows real commits; an empty commit proves nothing. */
static void test_healthy_follows_commits(void **state)
{
	struct fx *f = *state;
	int64_t a[1] = { CHAT_A };

	open_store(f, T0);
	assert_int_equal(store_healthy(f->st), 1);
	add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, a, 1, DS_PENDING);
	f->st->txn_lost = 1; /* as after SQLITE_FULL mid-turn */
	assert_int_equal(store_commit(f->st), -1);
	assert_int_equal(store_healthy(f->st), 0);
	assert_int_equal(store_commit(f->st), 0); /* nothing written */
	assert_int_equal(store_healthy(f->st), 0);
	add(f->st, SEV_ERROR, ALERT_FIRING, NULL, -1, T0, a, 1, DS_PENDING);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_healthy(f->st), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_counts_follow_every_change),
		T(test_counts_seeded_by_migration),
		T(test_status_queries_never_scan),
		T(test_key_scope_by_peer),
		T(test_blocks_persist_extend_expire),
		T(test_parts_sent_survive_a_crash),
		T(test_recent_chat),
		T(test_healthy_follows_commits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
