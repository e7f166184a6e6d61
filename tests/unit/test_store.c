/*
 * test_store.c - unit tests for alerts/store.c against a real SQLite
 * database in a temporary directory: durability across reopen, the
 * transaction contract, the single-instance lock, schema versions and
 * every query the dispatcher and the commands rely on.
 *
 * Set STORE_SHOW_PLAN=1 to print the query plans of the dispatch queries.
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
#include "alerts/alert.c" /* the real alert_free */
#include "alerts/severity.c"
#include "bot/util.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "fixture.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	char err[512];
};

#define CHAT_A (-1001000000001LL)
#define CHAT_B (-1001000000002LL)
#define CHAT_C 4242LL
#define T0 1700000000000LL

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (fx_tmpdir(f->dir, sizeof(f->dir), "store") != 0) {
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

static struct store *open_at(struct fx *f, int64_t now)
{
	struct store *st = NULL;

	if (store_open(&st, f->path, now, f->err, sizeof(f->err)) != 0)
		fail_msg("store_open: %s", f->err);
	return st;
}

static void reopen(struct fx *f, int64_t now)
{
	store_close(f->st);
	f->st = open_at(f, now);
}

/* Inserts a firing alert with the given fields and one delivery per chat;
 * returns its id. */
static int64_t ins_full(struct store *st, int sev, int status,
			const char *key, int64_t at, const int64_t *chats,
			size_t nchats, int state, int64_t repeat_of)
{
	struct dest dests[8];
	struct alert a;

	assert_true(nchats <= ARRAY_LEN(dests));
	memset(&a, 0, sizeof(a));
	a.received_at = at;
	a.severity = (enum severity)sev;
	a.status = (enum alert_status)status;
	a.title = (char *)"title";
	a.text = (char *)"text";
	a.key = (char *)key;
	a.peer_uid = -1;
	a.peer_pid = -1;
	for (size_t i = 0; i < nchats; i++) {
		dests[i].chat_id = chats[i];
		dests[i].thread_id = 0;
	}
	assert_int_equal(store_alert_insert(st, &a, dests, nchats, state,
					    repeat_of), 0);
	assert_true(a.id > 0);
	return a.id;
}

static int64_t ins(struct store *st, int sev, int64_t at, int64_t chat)
{
	return ins_full(st, sev, ALERT_FIRING, NULL, at, &chat, 1, DS_PENDING,
			0);
}

static int64_t ins_key(struct store *st, int status, const char *key,
		       int64_t at, int64_t repeat_of)
{
	int64_t chat = CHAT_A;

	return ins_full(st, SEV_ERROR, status, key, at, &chat, 1,
			repeat_of ? DS_SUPPRESSED : DS_PENDING, repeat_of);
}

static int get_delivery(struct store *st, int64_t alert_id, int64_t chat,
			struct delivery *out)
{
	struct delivery d[8];
	int n = store_deliveries(st, alert_id, d, ARRAY_LEN(d));

	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		if (d[i].chat_id == chat) {
			*out = d[i];
			return 1;
		}
	return 0;
}

static int64_t sql_int(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -12345;

	assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL),
			 SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Moves a delivery to a state with a due time (0 = not due). */
static void set_state(struct store *st, int64_t alert_id, int64_t chat,
		      int state, int64_t due_at)
{
	struct delivery d;

	assert_int_equal(get_delivery(st, alert_id, chat, &d), 1);
	d.state = state;
	d.due_at = due_at;
	assert_int_equal(store_delivery_update(st, &d), 0);
}

/* --- opening, schema, transactions, lock --- */

static void test_open_creates_schema(void **state)
{
	struct fx *f = *state;
	char mode[16];

	f->st = open_at(f, T0);
	assert_int_equal(sql_int(f->st, "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->st, "PRAGMA synchronous"), 2);
	assert_int_equal(sql_int(f->st, "PRAGMA foreign_keys"), 1);
	assert_int_equal(sql_int(f->st, "PRAGMA cache_size"), -2000);
	assert_int_equal(pragma(f->st->db, "PRAGMA journal_mode", mode,
				sizeof(mode)), 0);
	assert_string_equal(mode, "wal");
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM sqlite_schema"
				 " WHERE type = 'table' AND name IN ('alerts',"
				 " 'deliveries', 'mutes', 'kv')"), 4);
	assert_false(store_in_txn(f->st));
	/* Reopening an up-to-date store migrates nothing. */
	reopen(f, T0);
	assert_int_equal(sql_int(f->st, "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
}

/* Outside systemd the umask is 022: the database, its -wal and its -shm
 * are still created 0600 (alerts and chat ids are nobody else's). */
static void test_files_private_under_umask_022(void **state)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	struct fx *f = *state;
	char p[192];
	struct stat sb;
	mode_t old = umask(022);
	size_t i;

	f->st = open_at(f, T0);
	ins(f->st, SEV_ERROR, T0, CHAT_A); /* a write: -wal and -shm exist */
	assert_int_equal(store_commit(f->st), 0);
	umask(old);
	for (i = 0; i < ARRAY_LEN(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		assert_int_equal(stat(p, &sb), 0);
		if ((sb.st_mode & 0777) != 0600)
			fail_msg("%s has mode %04o", p,
				 (unsigned)(sb.st_mode & 0777));
	}
}

static void test_open_missing_dir(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char path[192];

	snprintf(path, sizeof(path), "%s/nope/opsbot.db", f->dir);
	assert_int_equal(store_open(&st, path, T0, f->err, sizeof(f->err)),
			 -1);
	assert_null(st);
	assert_non_null(strstr(f->err, "cannot open store "));
	assert_non_null(strstr(f->err, path));
}

static void test_reopen_keeps_everything(void **state)
{
	struct fx *f = *state;
	struct dest dests[2] = { { CHAT_A, 0 }, { CHAT_B, 77 } };
	struct alert a, got;
	struct delivery d;

	f->st = open_at(f, T0);
	memset(&a, 0, sizeof(a));
	a.received_at = T0 + 5;
	a.severity = SEV_WARNING;
	a.status = ALERT_FIRING;
	a.source = (char *)"db1";
	a.title = (char *)"Replication lag";
	a.text = (char *)"lag 120 s > 30 s <&>";
	a.key = (char *)"db1/repl-lag";
	a.url = (char *)"https://grafana.example/d/abc";
	a.labels = (char *)"{\"env\":\"prod\",\"dc\":\"x\"}";
	a.peer_uid = 1000;
	a.peer_pid = 4321;
	assert_int_equal(store_alert_insert(f->st, &a, dests, 2, DS_PENDING, 0),
			 0);
	assert_true(store_in_txn(f->st));
	assert_int_equal(store_commit(f->st), 0);
	assert_false(store_in_txn(f->st));
	reopen(f, T0 + 10);

	assert_int_equal(store_alert_get(f->st, a.id, &got), 1);
	assert_int_equal(got.id, a.id);
	assert_int_equal(got.received_at, a.received_at);
	assert_int_equal(got.severity, a.severity);
	assert_int_equal(got.status, a.status);
	assert_string_equal(got.source, a.source);
	assert_string_equal(got.title, a.title);
	assert_string_equal(got.text, a.text);
	assert_string_equal(got.key, a.key);
	assert_string_equal(got.url, a.url);
	assert_string_equal(got.labels, a.labels);
	assert_int_equal(got.peer_uid, 1000);
	assert_int_equal(got.peer_pid, 4321);
	assert_int_equal(got.repeats, 0);
	alert_free(&got);

	assert_int_equal(get_delivery(f->st, a.id, CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_PENDING);
	assert_int_equal(d.due_at, a.received_at);
	assert_int_equal(d.thread_id, 0);
	assert_int_equal(d.attempts, 0);
	assert_int_equal(d.message_id, 0);
	assert_int_equal(d.sent_at, 0);
	assert_string_equal(d.last_error, "");
	assert_int_equal(get_delivery(f->st, a.id, CHAT_B, &d), 1);
	assert_int_equal(d.thread_id, 77);

	/* Absent optional strings stay NULL. */
	a.source = a.key = a.url = a.labels = NULL;
	assert_int_equal(store_alert_insert(f->st, &a, dests, 1, DS_MUTED, 0),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_alert_get(f->st, a.id, &got), 1);
	assert_null(got.source);
	assert_null(got.key);
	assert_null(got.labels);
	alert_free(&got);
	assert_int_equal(get_delivery(f->st, a.id, CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_MUTED);
	assert_int_equal(d.due_at, 0); /* only PENDING is due */
	assert_int_equal(store_alert_get(f->st, a.id + 100, &got), 0);
}

static void test_rollback_drops_uncommitted(void **state)
{
	struct fx *f = *state;
	struct alert got;
	int64_t kept, dropped;

	f->st = open_at(f, T0);
	kept = ins(f->st, SEV_INFO, T0, CHAT_A);
	assert_int_equal(store_commit(f->st), 0);
	dropped = ins(f->st, SEV_INFO, T0, CHAT_A);
	store_rollback(f->st);
	assert_false(store_in_txn(f->st));
	assert_int_equal(store_alert_get(f->st, dropped, &got), 0);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"), 1);

	/* Closing with a transaction open loses it too. */
	dropped = ins(f->st, SEV_INFO, T0, CHAT_A);
	reopen(f, T0);
	assert_int_equal(store_alert_get(f->st, dropped, &got), 0);
	assert_int_equal(store_alert_get(f->st, kept, &got), 1);
	alert_free(&got);
}

static void test_commit_without_writes(void **state)
{
	struct fx *f = *state;

	f->st = open_at(f, T0);
	assert_false(store_in_txn(f->st));
	assert_int_equal(store_commit(f->st), 0);
	assert_false(store_in_txn(f->st));
	/* begin is idempotent; an empty transaction commits. */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_true(store_in_txn(f->st));
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_commit(f->st), 0);
	store_rollback(f->st); /* harmless outside a transaction */
	assert_false(store_in_txn(f->st));
}

static void test_lost_transaction_fails_commit(void **state)
{
	struct fx *f = *state;
	struct alert got;
	int64_t a1, a2;

	f->st = open_at(f, T0);
	a1 = ins(f->st, SEV_INFO, T0, CHAT_A);
	/* What SQLite does on some I/O errors: roll back on its own. */
	assert_int_equal(sqlite3_exec(f->st->db, "ROLLBACK", NULL, NULL, NULL),
			 SQLITE_OK);
	a2 = ins(f->st, SEV_INFO, T0, CHAT_A);
	assert_int_equal(store_commit(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "commit"));
	assert_false(store_in_txn(f->st));
	assert_int_equal(store_alert_get(f->st, a1, &got), 0);
	assert_int_equal(store_alert_get(f->st, a2, &got), 0);
	/* The store is usable afterwards. */
	a1 = ins(f->st, SEV_INFO, T0, CHAT_A);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_alert_get(f->st, a1, &got), 1);
	alert_free(&got);
}

static void test_lock_single_instance(void **state)
{
	struct fx *f = *state;
	struct store *second = NULL;
	struct stat sb;
	char want[512];

	f->st = open_at(f, T0);
	assert_int_equal(store_open(&second, f->path, T0, f->err,
				    sizeof(f->err)), -1);
	assert_null(second);
	snprintf(want, sizeof(want), "store %s is in use by another opsbot"
		 " (lock %s.lock is held)", f->path, f->path);
	assert_string_equal(f->err, want);
	snprintf(want, sizeof(want), "%s.lock", f->path);
	assert_int_equal(stat(want, &sb), 0);
	assert_int_equal(sb.st_mode & 0077, 0); /* created 0600 */

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(&second, f->path, T0, f->err,
				    sizeof(f->err)), 0);
	f->st = second;
}

static void test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&st, f->path, T0, f->err, sizeof(f->err)),
			 -1);
	assert_null(st);
	assert_non_null(strstr(f->err, f->path));
	assert_non_null(strstr(f->err, "version 99"));
	{
		char cur[16];

		snprintf(cur, sizeof(cur), "(%d)", STORE_SCHEMA_VERSION);
		assert_non_null(strstr(f->err, cur));
	}
	/* The refusal released the lock. */
	assert_int_equal(store_open(&st, f->path, T0, f->err, sizeof(f->err)),
			 -1);
	assert_null(strstr(f->err, "in use"));
}

static void test_not_a_database(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char junk[4096];
	FILE *fp;

	memset(junk, 'x', sizeof(junk));
	assert_non_null(fp = fopen(f->path, "w"));
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	assert_int_equal(store_open(&st, f->path, T0, f->err, sizeof(f->err)),
			 -1);
	assert_null(st);
	assert_non_null(strstr(f->err, "cannot open store "));
	assert_non_null(strstr(f->err, "not a database"));
}

static void test_sending_becomes_pending(void **state)
{
	struct fx *f = *state;
	int64_t chats[2] = { CHAT_A, CHAT_B };
	struct delivery d;
	int64_t id;

	f->st = open_at(f, T0);
	id = ins_full(f->st, SEV_ERROR, ALERT_FIRING, NULL, T0, chats, 2,
		      DS_PENDING, 0);
	set_state(f->st, id, CHAT_A, DS_SENDING, 0);
	set_state(f->st, id, CHAT_B, DS_SENT, 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_next_due(f->st, 0), 0);

	reopen(f, T0 + 777);
	assert_false(store_in_txn(f->st)); /* committed inside open */
	assert_int_equal(get_delivery(f->st, id, CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_PENDING);
	assert_int_equal(d.due_at, T0 + 777);
	assert_int_equal(d.updated_at, T0 + 777);
	assert_int_equal(get_delivery(f->st, id, CHAT_B, &d), 1);
	assert_int_equal(d.state, DS_SENT);
	assert_int_equal(store_next_due(f->st, 0), T0 + 777);
}

/* --- dispatch queries --- */

struct exp {
	int64_t id;
	int sev;
};

static int exp_cmp(const void *x, const void *y)
{
	const struct exp *a = x, *b = y;

	if (a->sev != b->sev)
		return a->sev - b->sev;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void test_due_order_filter_max(void **state)
{
	struct fx *f = *state;
	struct exp want[40];
	struct due_item items[64];
	size_t nwant = 0;
	int n;

	f->st = open_at(f, T0);
	/* Mixed severities and times; only CHAT_A rows due by T0+100. */
	for (int i = 0; i < 40; i++) {
		int sev = (i * 7) % SEV_COUNT;
		int64_t at = T0 + (i % 5) * 50; /* 0, 50, .., 200 */
		int64_t id = ins(f->st, sev, at, CHAT_A);

		ins(f->st, SEV_CRITICAL, T0, CHAT_B);
		if (at <= T0 + 100) {
			want[nwant].id = id;
			want[nwant++].sev = sev;
		}
	}
	assert_int_equal(store_commit(f->st), 0);
	qsort(want, nwant, sizeof(want[0]), exp_cmp);

	n = store_due(f->st, CHAT_A, T0 + 100, items, ARRAY_LEN(items));
	assert_int_equal(n, (int)nwant);
	for (int i = 0; i < n; i++) {
		assert_int_equal(items[i].d.alert_id, want[i].id);
		assert_int_equal(items[i].a.id, want[i].id);
		assert_int_equal(items[i].a.severity, want[i].sev);
		assert_int_equal(items[i].d.chat_id, CHAT_A);
		assert_true(items[i].d.due_at <= T0 + 100);
		assert_string_equal(items[i].a.title, "title");
	}
	store_due_free(items, (size_t)n);

	n = store_due(f->st, CHAT_A, T0 + 100, items, 5);
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++)
		assert_int_equal(items[i].d.alert_id, want[i].id);
	store_due_free(items, (size_t)n);

	assert_int_equal(store_due(f->st, CHAT_A, T0 - 1, items, 10), 0);
	assert_int_equal(store_due(f->st, CHAT_C, T0 + 1000, items, 10), 0);

	/* A delivery that is no longer due leaves the queue. */
	set_state(f->st, want[0].id, CHAT_A, DS_SENDING, 0);
	n = store_due(f->st, CHAT_A, T0 + 100, items, 1);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].d.alert_id, want[1].id);
	store_due_free(items, (size_t)n);
}

static void test_next_due(void **state)
{
	struct fx *f = *state;
	int64_t a1, b1, b2;

	f->st = open_at(f, T0);
	assert_int_equal(store_next_due(f->st, 0), 0);
	assert_int_equal(store_next_due(f->st, CHAT_A), 0);
	a1 = ins(f->st, SEV_INFO, T0 + 300, CHAT_A);
	ins(f->st, SEV_CRITICAL, T0 + 400, CHAT_A);
	b1 = ins(f->st, SEV_INFO, T0 + 200, CHAT_B);
	b2 = ins(f->st, SEV_INFO, T0 + 250, CHAT_B);
	assert_int_equal(store_next_due(f->st, CHAT_A), T0 + 300);
	assert_int_equal(store_next_due(f->st, CHAT_B), T0 + 200);
	assert_int_equal(store_next_due(f->st, CHAT_C), 0);
	assert_int_equal(store_next_due(f->st, 0), T0 + 200);

	/* A retry later than everything, and rows leaving the queue. */
	set_state(f->st, b1, CHAT_B, DS_RETRYING, T0 + 900);
	assert_int_equal(store_next_due(f->st, CHAT_B), T0 + 250);
	set_state(f->st, b2, CHAT_B, DS_SENT, 0);
	assert_int_equal(store_next_due(f->st, CHAT_B), T0 + 900);
	assert_int_equal(store_next_due(f->st, 0), T0 + 300);
	set_state(f->st, a1, CHAT_A, DS_FAILED, 0);
	assert_int_equal(store_next_due(f->st, 0), T0 + 400);
}

static void test_due_chats(void **state)
{
	struct fx *f = *state;
	int64_t chats[8], id;
	int n;

	f->st = open_at(f, T0);
	assert_int_equal(store_due_chats(f->st, chats, ARRAY_LEN(chats)), 0);
	for (int i = 0; i < 5; i++) {
		ins(f->st, SEV_INFO, T0 + i, CHAT_C);
		ins(f->st, SEV_INFO, T0 + i, CHAT_A);
	}
	id = ins(f->st, SEV_INFO, T0, CHAT_B);
	ins(f->st, SEV_INFO, T0, 7);
	n = store_due_chats(f->st, chats, ARRAY_LEN(chats));
	assert_int_equal(n, 4);
	/* Each once, in ascending chat order (negative groups first). */
	assert_int_equal(chats[0], CHAT_B);
	assert_int_equal(chats[1], CHAT_A);
	assert_int_equal(chats[2], 7);
	assert_int_equal(chats[3], CHAT_C);
	assert_int_equal(store_due_chats(f->st, chats, 2), 2);
	assert_int_equal(chats[1], CHAT_A);

	set_state(f->st, id, CHAT_B, DS_SENT, 0);
	n = store_due_chats(f->st, chats, ARRAY_LEN(chats));
	assert_int_equal(n, 3);
	assert_int_equal(chats[0], CHAT_A);
}

/* Field by field: last_error holds garbage past its terminator. */
static void assert_delivery_equal(const struct delivery *x,
				  const struct delivery *y)
{
	assert_int_equal(x->alert_id, y->alert_id);
	assert_int_equal(x->chat_id, y->chat_id);
	assert_int_equal(x->thread_id, y->thread_id);
	assert_int_equal(x->state, y->state);
	assert_int_equal(x->flags, y->flags);
	assert_int_equal(x->attempts, y->attempts);
	assert_int_equal(x->due_at, y->due_at);
	assert_int_equal(x->message_id, y->message_id);
	assert_int_equal(x->sent_at, y->sent_at);
	assert_int_equal(x->updated_at, y->updated_at);
	assert_string_equal(x->last_error, y->last_error);
}

static void test_delivery_update_roundtrip(void **state)
{
	struct fx *f = *state;
	struct delivery d, got;
	int64_t id;

	f->st = open_at(f, T0);
	id = ins_full(f->st, SEV_INFO, ALERT_FIRING, NULL, T0,
		      (const int64_t[]){ CHAT_A }, 1, DS_PENDING, 0);
	assert_int_equal(get_delivery(f->st, id, CHAT_A, &d), 1);
	d.thread_id = 55;
	d.state = DS_RETRYING;
	d.flags = DF_PLAIN | DF_NO_THREAD;
	d.attempts = 3;
	d.due_at = T0 + 5000;
	d.updated_at = T0 + 10;
	str_copy(d.last_error, "429 Too Many Requests: retry after 5",
		 sizeof(d.last_error));
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_commit(f->st), 0);
	reopen(f, T0);
	assert_int_equal(get_delivery(f->st, id, CHAT_A, &got), 1);
	assert_delivery_equal(&got, &d);

	/* Sent: due_at 0 and thread 0 are stored as NULL. */
	d.state = DS_SENT;
	d.thread_id = 0;
	d.due_at = 0;
	d.message_id = 9001;
	d.sent_at = T0 + 20;
	d.updated_at = T0 + 20;
	d.last_error[0] = '\0';
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(get_delivery(f->st, id, CHAT_A, &got), 1);
	assert_delivery_equal(&got, &d);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"
				 " WHERE due_at IS NULL AND thread_id IS NULL"
				 " AND last_error IS NULL"
				 " AND message_id = 9001"), 1);
	assert_int_equal(store_next_due(f->st, CHAT_A), 0);

	d.message_id = 0;
	d.sent_at = 0;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"
				 " WHERE message_id IS NULL"
				 " AND sent_at IS NULL"), 1);
}

static void test_migrate_chat(void **state)
{
	struct fx *f = *state;
	int64_t both[2] = { CHAT_A, CHAT_B };
	struct delivery d;
	int64_t only_a, both_id;

	f->st = open_at(f, T0);
	only_a = ins(f->st, SEV_INFO, T0, CHAT_A);
	both_id = ins_full(f->st, SEV_INFO, ALERT_FIRING, NULL, T0, both, 2,
			   DS_PENDING, 0);
	set_state(f->st, both_id, CHAT_B, DS_SENT, 0);
	assert_int_equal(store_migrate_chat(f->st, CHAT_A, CHAT_B), 0);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(get_delivery(f->st, only_a, CHAT_A, &d), 0);
	assert_int_equal(get_delivery(f->st, only_a, CHAT_B, &d), 1);
	assert_int_equal(d.state, DS_PENDING);
	/* The collision keeps the new chat's row, drops the old one. */
	assert_int_equal(get_delivery(f->st, both_id, CHAT_A, &d), 0);
	assert_int_equal(get_delivery(f->st, both_id, CHAT_B, &d), 1);
	assert_int_equal(d.state, DS_SENT);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"), 2);
	assert_int_equal(store_next_due(f->st, CHAT_A), 0);
	assert_int_equal(store_next_due(f->st, CHAT_B), T0);
}

static void test_last_firing(void **state)
{
	struct fx *f = *state;
	int64_t orig, other;
	struct firing fr = { 0 };

	f->st = open_at(f, T0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 0);
	orig = ins_key(f->st, ALERT_FIRING, "k", T0 + 1, 0);
	other = ins_key(f->st, ALERT_FIRING, "other", T0 + 2, 0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 1);
	assert_int_equal(fr.id, orig);
	assert_int_equal(fr.received_at, T0 + 1);
	assert_int_equal(fr.acked, 0);

	/* Repeats are counted on the original, never returned. */
	ins_key(f->st, ALERT_FIRING, "k", T0 + 3, orig);
	assert_int_equal(store_bump_repeat(f->st, orig), 0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 1);
	assert_int_equal(fr.id, orig);

	assert_int_equal(store_ack(f->st, orig, "alice", T0 + 4), 0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 1);
	assert_int_equal(fr.acked, 1);

	/* Resolved after it: nothing is firing for k, other is unaffected. */
	ins_key(f->st, ALERT_RESOLVED, "k", T0 + 5, 0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 0);
	assert_int_equal(store_last_firing(f->st, "other", STORE_ANY_PEER, &fr),
			 1);
	assert_int_equal(fr.id, other);

	/* Firing again after the resolve. */
	orig = ins_key(f->st, ALERT_FIRING, "k", T0 + 6, 0);
	assert_int_equal(store_last_firing(f->st, "k", STORE_ANY_PEER, &fr), 1);
	assert_int_equal(fr.id, orig);
	assert_int_equal(fr.acked, 0);
	assert_int_equal(store_commit(f->st), 0);

	struct alert a;

	assert_int_equal(store_alert_get(f->st, other - 1, &a), 1);
	assert_int_equal(a.repeats, 1);
	alert_free(&a);
}

static void test_original_delivery(void **state)
{
	struct fx *f = *state;
	int64_t both[2] = { CHAT_A, CHAT_B };
	struct delivery d, out;
	int64_t first, second, resolved;

	f->st = open_at(f, T0);
	first = ins_full(f->st, SEV_ERROR, ALERT_FIRING, "k", T0, both, 2,
			 DS_PENDING, 0);
	second = ins_full(f->st, SEV_ERROR, ALERT_FIRING, "k", T0 + 1, both, 2,
			  DS_PENDING, 0);
	ins_full(f->st, SEV_ERROR, ALERT_FIRING, "k", T0 + 2, both, 2,
		 DS_SUPPRESSED, second);
	resolved = ins_full(f->st, SEV_ERROR, ALERT_RESOLVED, "k", T0 + 3,
			    both, 2, DS_PENDING, 0);
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_A, resolved,
						 &out), 0);

	assert_int_equal(get_delivery(f->st, first, CHAT_A, &d), 1);
	d.state = DS_SENT;
	d.due_at = 0;
	d.message_id = 11;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_A, resolved,
						 &out), 1);
	assert_int_equal(out.alert_id, first);
	assert_int_equal(out.message_id, 11);

	assert_int_equal(get_delivery(f->st, second, CHAT_A, &d), 1);
	d.state = DS_SENT;
	d.due_at = 0;
	d.message_id = 22;
	assert_int_equal(store_delivery_update(f->st, &d), 0);
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_A, resolved,
						 &out), 1);
	assert_int_equal(out.alert_id, second);
	assert_int_equal(out.chat_id, CHAT_A);
	assert_int_equal(out.message_id, 22);
	/* before bounds it; other chats and keys do not match. */
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_A, second,
						 &out), 1);
	assert_int_equal(out.alert_id, first);
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_A, first,
						 &out), 0);
	assert_int_equal(store_original_delivery(f->st, "k", STORE_ANY_PEER, CHAT_B, resolved,
						 &out), 0);
	assert_int_equal(store_original_delivery(f->st, "x", STORE_ANY_PEER, CHAT_A, resolved,
						 &out), 0);
}

/* --- commands --- */

static void test_retry_now(void **state)
{
	struct fx *f = *state;
	int64_t ids[5];
	struct delivery d;

	f->st = open_at(f, T0);
	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		ids[i] = ins(f->st, SEV_INFO, T0, CHAT_A);
	set_state(f->st, ids[0], CHAT_A, DS_RETRYING, T0 + 60000);
	set_state(f->st, ids[1], CHAT_A, DS_FAILED, 0);
	set_state(f->st, ids[2], CHAT_A, DS_FAILED, 0);
	set_state(f->st, ids[3], CHAT_A, DS_SENT, 0);
	/* ids[4] stays PENDING. */

	assert_int_equal(store_retry_now(f->st, ids[1], T0 + 10), 1);
	assert_int_equal(get_delivery(f->st, ids[1], CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_RETRYING);
	assert_int_equal(d.due_at, T0 + 10);
	assert_int_equal(store_retry_now(f->st, ids[3], T0 + 10), 0);
	assert_int_equal(store_retry_now(f->st, 0, T0 + 20), 3);
	assert_int_equal(get_delivery(f->st, ids[0], CHAT_A, &d), 1);
	assert_int_equal(d.due_at, T0 + 20);
	assert_int_equal(get_delivery(f->st, ids[3], CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_SENT);
	assert_int_equal(get_delivery(f->st, ids[4], CHAT_A, &d), 1);
	assert_int_equal(d.state, DS_PENDING);
	assert_int_equal(d.due_at, T0);
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	struct store_stats s;
	struct delivery d;
	int64_t ids[6], early;
	int64_t now = T0 + 48 * 3600 * 1000LL;

	f->st = open_at(f, T0);
	assert_int_equal(store_stats(f->st, now, &s), 0);
	assert_int_equal(s.alerts, 0);
	assert_int_equal(s.oldest_undelivered, 0);
	assert_true(s.db_bytes > 0);
	/* Another chat and severity holds the oldest due alert at first. */
	early = ins(f->st, SEV_WARNING, T0 - 7000, CHAT_C);
	for (size_t i = 0; i < ARRAY_LEN(ids); i++)
		ids[i] = ins(f->st, SEV_INFO, T0 + (int64_t)i * 1000, CHAT_A);
	ins_full(f->st, SEV_INFO, ALERT_FIRING, NULL, T0, NULL, 0, DS_PENDING,
		 0);
	/* Sent 10 min ago, 5 h ago and 2 days ago. */
	const int64_t sent[3] = { now - 600000, now - 5 * 3600000LL,
				  now - 48 * 3600000LL };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get_delivery(f->st, ids[i], CHAT_A, &d), 1);
		d.state = DS_SENT;
		d.due_at = 0;
		d.message_id = i + 1;
		d.sent_at = sent[i];
		assert_int_equal(store_delivery_update(f->st, &d), 0);
	}
	set_state(f->st, ids[3], CHAT_A, DS_RETRYING, now + 5000);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_stats(f->st, now, &s), 0);
	assert_int_equal(s.alerts, 8);
	assert_int_equal(s.by_state[DS_SENT], 3);
	assert_int_equal(s.by_state[DS_RETRYING], 1);
	assert_int_equal(s.by_state[DS_PENDING], 3);
	assert_int_equal(s.by_state[DS_FAILED], 0);
	assert_int_equal(s.oldest_undelivered, T0 - 7000);
	set_state(f->st, early, CHAT_C, DS_FAILED, 0);
	assert_int_equal(store_stats(f->st, now, &s), 0);
	assert_int_equal(s.by_state[DS_PENDING], 2);
	assert_int_equal(s.by_state[DS_FAILED], 1);
	assert_int_equal(s.oldest_undelivered, T0 + 3000);
	assert_int_equal(s.next_retry, now + 5000);
	assert_int_equal(s.sent_hour, 1);
	assert_int_equal(s.sent_day, 2);
	assert_int_equal(s.db_bytes, sql_int(f->st, "PRAGMA page_count") *
			 sql_int(f->st, "PRAGMA page_size"));
}

static void test_recent_and_ack(void **state)
{
	struct fx *f = *state;
	struct alert out[8];
	int64_t ids[5], at = 0;
	char by[64];
	int n;

	f->st = open_at(f, T0);
	for (int i = 0; i < 5; i++)
		ids[i] = ins(f->st, i, T0 + i, CHAT_A);
	n = store_recent(f->st, -1, out, 3);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++) {
		assert_int_equal(out[i].id, ids[4 - i]);
		alert_free(&out[i]);
	}
	n = store_recent(f->st, SEV_ERROR, out, ARRAY_LEN(out));
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, ids[1]);
	assert_int_equal(out[1].id, ids[0]);
	alert_free(&out[0]);
	alert_free(&out[1]);

	assert_int_equal(store_ack_get(f->st, ids[2], by, sizeof(by), &at), 0);
	assert_int_equal(store_ack(f->st, ids[2], "bob", T0 + 50), 0);
	assert_int_equal(store_ack(f->st, ids[2], "carol", T0 + 60), 0);
	assert_int_equal(store_ack(f->st, ids[4] + 10, "bob", T0), 1);
	assert_int_equal(store_ack_get(f->st, ids[2], by, sizeof(by), &at), 1);
	assert_string_equal(by, "bob"); /* the first ack wins */
	assert_int_equal(at, T0 + 50);
}

static void test_mutes(void **state)
{
	struct fx *f = *state;
	struct mute m[3], out[8];
	int n;

	f->st = open_at(f, T0);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 3; i++) {
		m[i].until = T0 + (i + 1) * 1000;
		snprintf(m[i].source, sizeof(m[i].source), "db%d*", i);
		m[i].max_severity = i - 1;
		str_copy(m[i].created_by, "alice", sizeof(m[i].created_by));
		m[i].created_at = T0;
		assert_int_equal(store_mute_add(f->st, &m[i]), 0);
		assert_true(m[i].id > 0);
	}
	assert_int_equal(store_mute_hold(f->st, m[1].id), 0);
	assert_int_equal(store_mute_hold(f->st, m[1].id), 0);
	assert_int_equal(store_commit(f->st), 0);

	n = store_mutes(f->st, T0 + 500, out, ARRAY_LEN(out));
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++) {
		assert_int_equal(out[i].id, m[i].id);
		assert_int_equal(out[i].until, m[i].until);
		assert_string_equal(out[i].source, m[i].source);
		assert_int_equal(out[i].max_severity, m[i].max_severity);
		assert_string_equal(out[i].created_by, "alice");
		assert_int_equal(out[i].created_at, T0);
	}
	assert_int_equal(out[1].held, 2);
	assert_int_equal(out[0].held, 0);
	assert_int_equal(store_mutes(f->st, T0 + 500, out, 1), 1);
	assert_int_equal(store_mutes(f->st, T0 + 1000, out, 8), 2);
	assert_int_equal(out[0].id, m[1].id);

	/* Expire: the first two are over at T0+2000, copied then gone. */
	n = store_mutes_expire(f->st, T0 + 2000, out, ARRAY_LEN(out));
	assert_int_equal(n, 2);
	assert_int_equal(out[0].id, m[0].id);
	assert_int_equal(out[1].id, m[1].id);
	assert_int_equal(out[1].held, 2);
	assert_int_equal(store_mutes_expire(f->st, T0 + 2000, out, 8), 0);
	assert_int_equal(store_mutes(f->st, 0, out, 8), 1);

	assert_int_equal(store_mute_del(f->st, m[2].id), 1);
	assert_int_equal(store_mute_del(f->st, m[2].id), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_mute_add(f->st, &m[i]), 0);
	assert_int_equal(store_mute_del(f->st, 0), 3);
	assert_int_equal(store_mutes(f->st, 0, out, 8), 0);
}

static void test_kv(void **state)
{
	struct fx *f = *state;
	char v[16];

	f->st = open_at(f, T0);
	assert_int_equal(store_kv_get(f->st, "offset", v, sizeof(v)), 0);
	assert_int_equal(store_kv_set(f->st, "offset", "123"), 0);
	assert_int_equal(store_kv_set(f->st, "other", "x"), 0);
	assert_int_equal(store_kv_set(f->st, "offset", "456789"), 0);
	assert_int_equal(store_commit(f->st), 0);
	reopen(f, T0);
	assert_int_equal(store_kv_get(f->st, "offset", v, sizeof(v)), 1);
	assert_string_equal(v, "456789");
	assert_int_equal(store_kv_get(f->st, "other", v, sizeof(v)), 1);
	assert_string_equal(v, "x");
	/* A value that does not fit is an error, not a cut value. */
	assert_int_equal(store_kv_get(f->st, "offset", v, 4), -1);
	assert_non_null(strstr(store_errmsg(f->st), "too long"));
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	int64_t both[2] = { CHAT_A, CHAT_B };
	int64_t done[4], due, half, recent;
	struct alert a;

	f->st = open_at(f, T0);
	for (int i = 0; i < 4; i++) {
		done[i] = ins(f->st, SEV_INFO, T0 + i, CHAT_A);
		set_state(f->st, done[i], CHAT_A,
			  i == 0 ? DS_SENT : i == 1 ? DS_FAILED :
			  i == 2 ? DS_MUTED : DS_SUPPRESSED, 0);
	}
	due = ins(f->st, SEV_INFO, T0, CHAT_A);
	half = ins_full(f->st, SEV_INFO, ALERT_FIRING, NULL, T0, both, 2,
			DS_PENDING, 0);
	set_state(f->st, half, CHAT_A, DS_SENT, 0);
	set_state(f->st, half, CHAT_B, DS_RETRYING, T0 + 100);
	recent = ins(f->st, SEV_INFO, T0 + 1000, CHAT_A);
	set_state(f->st, recent, CHAT_A, DS_SENT, 0);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_prune(f->st, T0 + 500, 3), 3);
	assert_int_equal(store_prune(f->st, T0 + 500, 3), 1);
	assert_int_equal(store_prune(f->st, T0 + 500, 3), 0);
	assert_int_equal(store_commit(f->st), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(store_alert_get(f->st, done[i], &a), 0);
	/* Deliveries went with their alerts. */
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"), 4);
	assert_int_equal(store_alert_get(f->st, due, &a), 1);
	alert_free(&a);
	assert_int_equal(store_alert_get(f->st, half, &a), 1);
	alert_free(&a);
	assert_int_equal(store_alert_get(f->st, recent, &a), 1);
	alert_free(&a);
}

static void test_state_names(void **state)
{
	static const char *const want[] = { "pending", "sending", "sent",
		"retrying", "failed", "muted", "suppressed" };

	for (int i = 0; i < DS_COUNT; i++)
		assert_string_equal(delivery_state_name(i), want[i]);
	assert_string_equal(delivery_state_name(DS_COUNT), "unknown");
	assert_string_equal(delivery_state_name(-1), "unknown");
}

/* Prints EXPLAIN QUERY PLAN of a prepared statement (STORE_SHOW_PLAN). */
static void show_plan(struct store *st, int id)
{
	char sql[2048];
	sqlite3_stmt *s;

	if (getenv("STORE_SHOW_PLAN") == NULL)
		return;
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", stmt_sql[id]);
	assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL),
			 SQLITE_OK);
	printf("plan of: %s\n", stmt_sql[id]);
	while (sqlite3_step(s) == SQLITE_ROW)
		printf("  %s\n", sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
}

/*
 * The dispatch queries (store_due, store_next_due, store_due_chats) on a
 * big queue: every step of the plan is an index SEARCH, never a SCAN of
 * deliveries (or of anything), and nothing is sorted in a temp b-tree.
 */
static void assert_index_seeks(struct store *st, int id)
{
	char sql[2048];
	sqlite3_stmt *s;
	const char *step;
	int steps = 0;

	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", stmt_sql[id]);
	assert_int_equal(sqlite3_prepare_v2(st->db, sql, -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		step = (const char *)sqlite3_column_text(s, 3);
		assert_non_null(step);
		if (strncmp(step, "SEARCH ", 7) != 0 ||
		    strstr(step, "TEMP B-TREE") != NULL)
			fail_msg("%s\nplan step: %s", stmt_sql[id], step);
		steps++;
	}
	sqlite3_finalize(s);
	assert_true(steps >= 1);
}

static void test_bulk_due(void **state)
{
	struct fx *f = *state;
	enum { N = 20000, TOP = 50 };
	struct due_item items[TOP];
	int64_t chats[2] = { CHAT_A, CHAT_B };
	struct exp *want = malloc(N * sizeof(*want));
	int n;

	assert_non_null(want);
	f->st = open_at(f, T0);
	for (int i = 0; i < N; i++) {
		/* A spread of severities, few of them critical. */
		int sev = (i % 997 == 0) ? SEV_CRITICAL : 1 + (i * 31) % 4;

		want[i].id = ins_full(f->st, sev, ALERT_FIRING, NULL, T0 + i,
				      chats, 2, DS_PENDING, 0);
		want[i].sev = sev;
	}
	assert_int_equal(store_commit(f->st), 0);
	qsort(want, N, sizeof(*want), exp_cmp);

	n = store_due(f->st, CHAT_B, T0 + N, items, TOP);
	assert_int_equal(n, TOP);
	for (int i = 0; i < n; i++) {
		assert_int_equal(items[i].d.alert_id, want[i].id);
		assert_int_equal(items[i].a.severity, want[i].sev);
	}
	store_due_free(items, (size_t)n);
	assert_int_equal(store_next_due(f->st, 0), T0);
	assert_int_equal(store_due_chats(f->st, chats, 2), 2);
	assert_index_seeks(f->st, S_DUE);           /* store_due */
	assert_index_seeks(f->st, S_NEXT_DUE_CHAT); /* store_next_due */
	assert_index_seeks(f->st, S_NEXT_CHAT);     /* both, skip-scan */
	show_plan(f->st, S_DUE);
	show_plan(f->st, S_NEXT_DUE_CHAT);
	show_plan(f->st, S_NEXT_CHAT);
	show_plan(f->st, S_LAST_FIRING);
	show_plan(f->st, S_ORIG_DELIV);
	show_plan(f->st, S_PRUNE);
	show_plan(f->st, S_STATS_OLDEST);
	show_plan(f->st, S_STATS_RETRY);
	free(want);
}

/* --- meta (schema v2) --- */

#define META_AM "{\"via\":\"alertmanager\",\"fingerprint\":\"1a30ba71cca2921f\"," \
	"\"labels\":{\"alertname\":\"Down\",\"job\":\"node\"}}"

static void test_meta_roundtrip(void **state)
{
	struct fx *f = *state;
	struct dest dest = { CHAT_A, 0 };
	struct due_item items[4];
	struct alert a, got, recent[4];
	int64_t plain;
	int n;

	f->st = open_at(f, T0);
	plain = ins(f->st, SEV_INFO, T0, CHAT_A);
	memset(&a, 0, sizeof(a));
	a.received_at = T0 + 1;
	a.severity = SEV_CRITICAL;
	a.title = (char *)"Down";
	a.key = (char *)"am:1a30ba71cca2921f";
	a.meta = (char *)META_AM;
	a.peer_uid = a.peer_pid = -1;
	assert_int_equal(store_alert_insert(f->st, &a, &dest, 1, DS_PENDING, 0),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	reopen(f, T0 + 2);

	/* Every loader carries it: get, the dispatch queue, /alerts. */
	assert_int_equal(store_alert_get(f->st, a.id, &got), 1);
	assert_string_equal(got.meta, META_AM);
	assert_string_equal(got.key, "am:1a30ba71cca2921f");
	alert_free(&got);
	assert_int_equal(store_alert_get(f->st, plain, &got), 1);
	assert_null(got.meta);
	alert_free(&got);

	n = store_due(f->st, CHAT_A, T0 + 2, items, ARRAY_LEN(items));
	assert_int_equal(n, 2);
	/* Most severe first: the critical webhook alert, then the info one. */
	assert_int_equal(items[0].a.id, a.id);
	assert_string_equal(items[0].a.meta, META_AM);
	assert_int_equal(items[1].a.id, plain);
	assert_null(items[1].a.meta);
	store_due_free(items, (size_t)n);

	n = store_recent(f->st, -1, recent, ARRAY_LEN(recent));
	assert_int_equal(n, 2);
	assert_int_equal(recent[0].id, a.id);
	assert_string_equal(recent[0].meta, META_AM);
	assert_null(recent[1].meta);
	for (int i = 0; i < n; i++)
		alert_free(&recent[i]);
}

/* A store written by the version-1 schema (before meta) opens, migrates
 * to the current version, keeps its rows (meta NULL) and takes new
 * alerts with meta. */
static void test_migrate_v1_store(void **state)
{
	struct fx *f = *state;
	struct dest dest = { CHAT_B, 0 };
	struct alert a, got;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO alerts (id, received_at, severity, status, title,"
		" key, labels) VALUES (7, 1700000000000, 1, 0, 'old one',"
		" 'k1', '{\"env\":\"prod\"}');"
		"INSERT INTO deliveries (alert_id, chat_id, state, due_at,"
		" updated_at, severity) VALUES (7, -1001000000001, 0,"
		" 1700000000000, 1700000000000, 1);"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	f->st = open_at(f, T0);
	assert_int_equal(sql_int(f->st, "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
	/* v3: the index that finds a pack's rows */
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM sqlite_master"
				 " WHERE name = 'deliveries_message'"), 1);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM"
				 " pragma_table_info('alerts') WHERE name ="
				 " 'meta' AND \"notnull\" = 0"), 1);
	assert_int_equal(store_alert_get(f->st, 7, &got), 1);
	assert_string_equal(got.title, "old one");
	assert_string_equal(got.labels, "{\"env\":\"prod\"}");
	assert_null(got.meta);
	alert_free(&got);
	assert_int_equal(sql_int(f->st, "SELECT COUNT(*) FROM deliveries"
				 " WHERE alert_id = 7 AND due_at IS NOT NULL"),
			 1);

	memset(&a, 0, sizeof(a));
	a.received_at = T0;
	a.title = (char *)"new one";
	a.meta = (char *)"{\"via\":\"grafana\"}";
	a.peer_uid = a.peer_pid = -1;
	assert_int_equal(store_alert_insert(f->st, &a, &dest, 1, DS_PENDING, 0),
			 0);
	assert_int_equal(store_commit(f->st), 0);
	reopen(f, T0);
	assert_int_equal(sql_int(f->st, "PRAGMA user_version"),
			 STORE_SCHEMA_VERSION);
	assert_int_equal(store_alert_get(f->st, a.id, &got), 1);
	assert_string_equal(got.meta, "{\"via\":\"grafana\"}");
	alert_free(&got);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* The silences opsbot made: add, get by number or id, list the live
 * ones, mark one gone. */
static void test_silences(void **state)
{
	struct fx *f = *state;
	struct silence a = { .alert_id = 0, .created_at = T0,
			     .ends_at = T0 + 3600000 }, b, got[4];

	str_copy(a.silence_id, "aaaa-1111", sizeof(a.silence_id));
	str_copy(a.peer, "http://am1:9093", sizeof(a.peer));
	str_copy(a.matchers, "alertname=\"X\"", sizeof(a.matchers));
	str_copy(a.created_by, "@alice", sizeof(a.created_by));
	f->st = open_at(f, T0);
	b = a;
	str_copy(b.silence_id, "bbbb-2222", sizeof(b.silence_id));
	b.ends_at = T0 + 60000;
	b.alert_id = 7;
	assert_int_equal(store_silence_add(f->st, &a), 0);
	assert_int_equal(store_silence_add(f->st, &b), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(a.id, 1);
	assert_int_equal(b.id, 2);
	assert_int_equal(store_silence_get(f->st, 2, NULL, &got[0]), 1);
	assert_string_equal(got[0].silence_id, "bbbb-2222");
	assert_int_equal(got[0].alert_id, 7);
	assert_int_equal(store_silence_get(f->st, 0, "aaaa-1111", &got[0]), 1);
	assert_int_equal(got[0].id, 1);
	assert_string_equal(got[0].matchers, "alertname=\"X\"");
	assert_int_equal(got[0].alert_id, 0);
	assert_int_equal(store_silence_get(f->st, 3, "nope", &got[0]), 0);
	/* b has ended by T0 + 2 min; a is gone once marked */
	assert_int_equal(store_silences(f->st, T0, got, 4), 2);
	assert_int_equal(store_silences(f->st, T0 + 120000, got, 4), 1);
	assert_int_equal(got[0].id, 1);
	assert_int_equal(store_silence_gone(f->st, 1), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_silences(f->st, T0, got, 4), 1);
	assert_int_equal(got[0].id, 2);
}

/* Inserts one alert without deliveries (relay mode) and commits. */
static int64_t relay_add(struct fx *f, const char *key, int resolved,
			 int64_t repeat_of, const char *meta)
{
	struct alert a = { .received_at = T0, .severity = SEV_ERROR,
			   .peer_uid = -1, .peer_pid = -1 };

	a.status = resolved ? ALERT_RESOLVED : ALERT_FIRING;
	a.key = (char *)key;
	a.title = (char *)"t";
	a.meta = (char *)meta;
	assert_int_equal(store_alert_insert(f->st, &a, NULL, 0, DS_PENDING,
					    repeat_of), 0);
	assert_int_equal(store_commit(f->st), 0);
	return a.id;
}

/* The relay's queue reads: in id order within bounds, the keys still
 * firing, the original of a key, and resolutions by startsAt. */
static void test_relay_queries(void **state)
{
	struct fx *f = *state;
	struct alert got[8];
	int64_t k1, k2, k3, r2, orig = -1;
	int n;

	f->st = open_at(f, T0);
	assert_int_equal(store_max_alert_id(f->st), 0);
	k1 = relay_add(f, "k1", 0, 0, NULL);
	relay_add(f, "k1", 0, k1, NULL);                 /* repeat */
	k2 = relay_add(f, "k2", 0, 0,
		       "{\"via\":\"alertmanager\",\"startsAt\":\"S2\"}");
	relay_add(f, NULL, 0, 0, NULL);                  /* one-shot */
	r2 = relay_add(f, "k2", 1, 0,
		       "{\"via\":\"alertmanager\",\"startsAt\":\"S2\"}");
	k3 = relay_add(f, "k3", 0, 0, NULL);
	assert_int_equal(store_max_alert_id(f->st), k3);
	assert_int_equal(store_alerts_count_after(f->st, 2, k3), 4);
	assert_int_equal(store_alerts_count_after(f->st, 2, r2), 3);
	n = store_alerts_after(f->st, 1, r2, got, 8);
	assert_int_equal(n, 4);
	assert_int_equal(got[0].id, k1 + 1);
	assert_int_equal(got[3].id, r2);
	for (int i = 0; i < n; i++)
		alert_free(&got[i]);
	assert_int_equal(store_alerts_after(f->st, 0, k3, got, 2), 2);
	alert_free(&got[0]);
	alert_free(&got[1]);
	/* still firing: k1 (its repeat is not an original) and k3 */
	n = store_firing_after(f->st, 0, k3, got, 8);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].id, k1);
	assert_int_equal(got[1].id, k3);
	alert_free(&got[0]);
	alert_free(&got[1]);
	assert_int_equal(store_firing_after(f->st, k1, k3 - 1, got, 8), 0);
	/* the original of a repeat, of a resolution */
	assert_int_equal(store_original_at(f->st, "k1", k1 + 1, got), 1);
	assert_int_equal(got[0].id, k1);
	alert_free(&got[0]);
	assert_int_equal(store_original_at(f->st, "k2", r2, got), 1);
	assert_int_equal(got[0].id, k2);
	alert_free(&got[0]);
	assert_int_equal(store_original_at(f->st, "k9", r2, got), 0);
	/* a late copy of the episode that ended */
	assert_int_equal(store_resolved_start(f->st, "k2", "S2", &orig), 1);
	assert_int_equal(orig, k2);
	assert_int_equal(store_resolved_start(f->st, "k2", "S3", &orig), 0);
	assert_int_equal(store_resolved_start(f->st, "k1", "S2", &orig), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_queries, setup,
						teardown),
		T(test_open_creates_schema),
		T(test_files_private_under_umask_022),
		T(test_open_missing_dir),
		T(test_reopen_keeps_everything),
		T(test_rollback_drops_uncommitted),
		T(test_commit_without_writes),
		T(test_lost_transaction_fails_commit),
		T(test_lock_single_instance),
		T(test_newer_schema_refused),
		T(test_not_a_database),
		T(test_sending_becomes_pending),
		T(test_due_order_filter_max),
		T(test_next_due),
		T(test_due_chats),
		T(test_delivery_update_roundtrip),
		T(test_migrate_chat),
		T(test_last_firing),
		T(test_original_delivery),
		T(test_retry_now),
		T(test_stats),
		T(test_recent_and_ack),
		T(test_mutes),
		T(test_kv),
		T(test_prune),
		T(test_state_names),
		T(test_bulk_due),
		T(test_meta_roundtrip),
		T(test_migrate_v1_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
