/*
 * test_chats.c - unit tests for bot/chats.c, the destination chats: who
 * gets a slot, migrations remembered in the store and followed, the
 * migrations that make no sense refused without touching a delivery
 * (issue 16, item 12), and chats that failed for good.
 *
 * The real store runs in a temporary directory.
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
#include "bot/chats.c"

#include "tests/unit/fixture.h"

#define GROUP (-1001000000001LL)
#define PRIV 4242LL
#define ROUTED (-1002000000002LL)
#define NEWGROUP (-1009999LL)
#define THIRD (-1008888LL)
#define STRANGER 777LL
#define T0 1700000000000LL

struct fx {
	char dir[64];
	char path[128];
	struct config cfg;
	struct store *store;
	struct chats *chats;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL || fx_tmpdir(f->dir, sizeof(f->dir), "chats") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/opsbot.db", f->dir);
	if (store_open(&f->store, f->path, T0, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	f->cfg.chats[f->cfg.nchats++] = GROUP;
	f->cfg.chats[f->cfg.nchats++] = PRIV;
	f->cfg.routes[0].chats[f->cfg.routes[0].nchats++] = ROUTED;
	f->cfg.nroutes = 1;
	f->chats = chats_new(f->store);
	if (f->chats == NULL)
		return -1;
	chats_load(f->chats, &f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	chats_free(f->chats);
	store_close(f->store);
	if (fx_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* A stored alert with one PENDING delivery to chat; returns its id. */
static int64_t add_alert(struct fx *f, int64_t chat)
{
	struct dest d = { chat, 0 };
	struct alert a;
	int64_t id;

	fx_alert(&a, SEV_CRITICAL, "db1", "down", "details", T0);
	assert_int_equal(store_alert_insert(f->store, &a, &d, 1, DS_PENDING,
					    0), 0);
	assert_int_equal(store_commit(f->store), 0);
	id = a.id;
	alert_free(&a);
	return id;
}

/* The only delivery of alert id. */
static struct delivery only_row(struct fx *f, int64_t id)
{
	struct delivery dl[4];

	assert_int_equal(store_deliveries(f->store, id, dl, 4), 1);
	return dl[0];
}

static int migration_stored(struct fx *f, int64_t from, char *val,
			    size_t size)
{
	char key[64];

	snprintf(key, sizeof(key), "migrate:%lld", (long long)from);
	return store_kv_get(f->store, key, val, size);
}

static void test_configured_get_slots(void **state)
{
	struct fx *f = *state;
	int64_t id;

	assert_int_equal(chats_count(f->chats), 3);
	assert_true(chats_index(f->chats, GROUP) >= 0);
	assert_true(chats_index(f->chats, PRIV) >= 0);
	assert_true(chats_index(f->chats, ROUTED) >= 0);
	for (size_t i = 0; i < chats_count(f->chats); i++)
		assert_int_equal(chats_index(f->chats, chats_id(f->chats, i)),
				 (int)i);
	/* a private chat that only talks to the bot is not a destination */
	assert_int_equal(chats_index(f->chats, STRANGER), -1);
	assert_int_equal(chats_resolve(f->chats, STRANGER), STRANGER);

	/* a chat no longer configured still gets what was stored for it */
	id = add_alert(f, THIRD);
	chats_load(f->chats, &f->cfg);
	assert_true(chats_index(f->chats, THIRD) >= 0);
	assert_int_equal(chats_count(f->chats), 4);
	/* loading again adds nothing twice, indices stay */
	chats_load(f->chats, &f->cfg);
	assert_int_equal(chats_count(f->chats), 4);
	assert_int_equal(chats_id(f->chats, 3), THIRD);
	assert_int_equal(only_row(f, id).chat_id, THIRD);
}

static void test_migration_remembered(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, GROUP);
	struct chats *again;
	char err[160] = "", val[64];
	struct delivery r;

	assert_int_equal(chats_migrate(f->chats, GROUP, NEWGROUP, err,
				       sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(chats_resolve(f->chats, GROUP), NEWGROUP);
	assert_true(chats_index(f->chats, NEWGROUP) >= 0);
	assert_int_equal(store_commit(f->store), 0);
	r = only_row(f, id);
	assert_int_equal(r.chat_id, NEWGROUP);
	assert_int_equal(r.state, DS_PENDING);
	assert_int_equal(migration_stored(f, GROUP, val, sizeof(val)), 1);
	assert_string_equal(val, "-1009999");

	/* a new table (a restart) reads it back: the configured id leads
	 * to the supergroup, which gets the slot */
	again = chats_new(f->store);
	assert_non_null(again);
	chats_load(again, &f->cfg);
	assert_int_equal(chats_resolve(again, GROUP), NEWGROUP);
	assert_true(chats_index(again, NEWGROUP) >= 0);
	assert_int_equal(chats_index(again, GROUP), -1);
	chats_free(again);
}

/* A migration whose turn did not commit is forgotten: memory follows
 * what is on disk. */
static void test_unstored_migration_forgotten(void **state)
{
	struct fx *f = *state;
	char err[160];

	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(chats_migrate(f->chats, GROUP, NEWGROUP, err,
				       sizeof(err)), 0);
	assert_int_equal(chats_resolve(f->chats, GROUP), NEWGROUP);
	store_rollback(f->store);
	chats_reload(f->chats, &f->cfg);
	assert_int_equal(chats_resolve(f->chats, GROUP), GROUP);
}

/* Migrating "to itself" would have deleted the chat's deliveries, an
 * acknowledged alert's included. */
static void test_migrate_to_self_refused(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, GROUP);
	struct delivery r = only_row(f, id);
	char err[160] = "", val[64], by[64];
	int64_t at;

	r.state = DS_SENT;
	r.message_id = 77;
	r.sent_at = T0;
	assert_int_equal(store_delivery_update(f->store, &r), 0);
	assert_int_equal(store_ack(f->store, id, "@alice", T0 + 1000), 0);
	assert_int_equal(store_commit(f->store), 0);

	assert_int_equal(chats_migrate(f->chats, GROUP, GROUP, err,
				       sizeof(err)), -1);
	assert_non_null(strstr(err, "makes no sense"));
	assert_int_equal(store_commit(f->store), 0);
	r = only_row(f, id);
	assert_int_equal(r.chat_id, GROUP);
	assert_int_equal(r.state, DS_SENT);
	assert_int_equal(r.message_id, 77);
	assert_int_equal(store_ack_get(f->store, id, by, sizeof(by), &at), 1);
	assert_int_equal(migration_stored(f, GROUP, val, sizeof(val)), 0);
	assert_int_equal(chats_resolve(f->chats, GROUP), GROUP);

	/* and to no chat at all */
	assert_int_equal(chats_migrate(f->chats, GROUP, 0, err, sizeof(err)),
			 -1);
	assert_int_equal(only_row(f, id).chat_id, GROUP);
}

/* A -> B -> A (and longer circles) would bounce forever: refused, the
 * rows stay where the first migration put them. */
static void test_migration_cycle_refused(void **state)
{
	struct fx *f = *state;
	int64_t id = add_alert(f, GROUP);
	char err[160], val[64];

	assert_int_equal(chats_migrate(f->chats, GROUP, NEWGROUP, err,
				       sizeof(err)), 0);
	assert_int_equal(chats_migrate(f->chats, NEWGROUP, GROUP, err,
				       sizeof(err)), -1);
	assert_non_null(strstr(err, "makes no sense"));
	assert_int_equal(store_commit(f->store), 0);
	assert_int_equal(only_row(f, id).chat_id, NEWGROUP);
	assert_int_equal(chats_resolve(f->chats, GROUP), NEWGROUP);
	assert_int_equal(chats_resolve(f->chats, NEWGROUP), NEWGROUP);
	assert_int_equal(migration_stored(f, NEWGROUP, val, sizeof(val)), 0);

	/* A -> B -> C -> A */
	assert_int_equal(chats_migrate(f->chats, NEWGROUP, THIRD, err,
				       sizeof(err)), 0);
	assert_int_equal(chats_resolve(f->chats, GROUP), THIRD);
	assert_int_equal(chats_migrate(f->chats, THIRD, GROUP, err,
				       sizeof(err)), -1);
	assert_int_equal(store_commit(f->store), 0);
	assert_int_equal(only_row(f, id).chat_id, THIRD);
	assert_int_equal(chats_resolve(f->chats, THIRD), THIRD);
}

static void test_failed_chats(void **state)
{
	struct fx *f = *state;

	assert_null(chats_failed(f->chats, GROUP));
	assert_int_equal(chats_fail(f->chats, GROUP, "chat not found"), 1);
	/* told once */
	assert_int_equal(chats_fail(f->chats, GROUP, "chat not found"), 0);
	assert_string_equal(chats_failed(f->chats, GROUP), "chat not found");
	assert_null(chats_failed(f->chats, PRIV));
	assert_int_equal(chats_failed_count(f->chats), 1);
	/* not a destination: nothing to fail */
	assert_int_equal(chats_fail(f->chats, STRANGER, "blocked"), 0);
	assert_null(chats_failed(f->chats, STRANGER));

	/* a reload keeps what is known */
	chats_load(f->chats, &f->cfg);
	assert_string_equal(chats_failed(f->chats, GROUP), "chat not found");

	assert_int_equal(chats_fail(f->chats, PRIV, "Forbidden: bot was "
				    "blocked by the user"), 1);
	assert_int_equal(chats_failed_count(f->chats), 2);
	chats_clear_failed(f->chats);
	assert_int_equal(chats_failed_count(f->chats), 0);
	assert_null(chats_failed(f->chats, GROUP));
	assert_int_equal(chats_fail(f->chats, GROUP, "kicked"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_configured_get_slots,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unstored_migration_forgotten,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_remembered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_to_self_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_cycle_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_chats, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
