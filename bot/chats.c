/*
 * chats.c - destination chats, migrations and permanent failures. See
 * chats.h.
 */
#include "bot/chats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/store.h"
#include "bot/config.h"
#include "bot/util.h"

#define MAX_MIGRATIONS 64
#define MAX_HOPS 4

struct chat_entry {
	int64_t id;
	int failed;
	char reason[160];
};

struct chats {
	struct store *st;
	struct chat_entry tab[CHATS_MAX];
	size_t n;
	struct { int64_t from, to; } migr[MAX_MIGRATIONS];
	size_t nmigr;
};

struct chats *chats_new(struct store *st)
{
	struct chats *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->st = st;
	return c;
}

void chats_free(struct chats *c)
{
	free(c);
}

int64_t chats_resolve(const struct chats *c, int64_t chat)
{
	for (int hops = 0; hops < MAX_HOPS; hops++) {
		size_t i;

		for (i = 0; i < c->nmigr && c->migr[i].from != chat; i++)
			;
		if (i == c->nmigr)
			return chat;
		chat = c->migr[i].to;
	}
	return chat;
}

int chats_index(const struct chats *c, int64_t chat)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->tab[i].id == chat)
			return (int)i;
	return -1;
}

static struct chat_entry *chat_add(struct chats *c, int64_t id)
{
	int i = chats_index(c, id);

	if (i >= 0)
		return &c->tab[i];
	if (c->n == CHATS_MAX)
		return NULL;
	memset(&c->tab[c->n], 0, sizeof(c->tab[0]));
	c->tab[c->n].id = id;
	return &c->tab[c->n++];
}

static void migr_remember(struct chats *c, int64_t from, int64_t to)
{
	for (size_t i = 0; i < c->nmigr; i++)
		if (c->migr[i].from == from) {
			c->migr[i].to = to;
			return;
		}
	if (c->nmigr < MAX_MIGRATIONS) {
		c->migr[c->nmigr].from = from;
		c->migr[c->nmigr].to = to;
		c->nmigr++;
	}
}

static void migr_load(struct chats *c, int64_t chat)
{
	char key[64], val[64];
	int64_t to;

	if (chats_resolve(c, chat) != chat)
		return; /* known already */
	snprintf(key, sizeof(key), "migrate:%" PRId64, chat);
	if (store_kv_get(c->st, key, val, sizeof(val)) != 1)
		return;
	to = strtoll(val, NULL, 10);
	if (to != 0 && to != chat)
		migr_remember(c, chat, to);
}

static void add_configured(struct chats *c, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		migr_load(c, ids[i]);
	for (size_t i = 0; i < n; i++)
		chat_add(c, chats_resolve(c, ids[i]));
}

void chats_load(struct chats *c, const struct config *cfg)
{
	int64_t due[64];
	int n;

	add_configured(c, cfg->chats, cfg->nchats);
	for (size_t r = 0; r < cfg->nroutes; r++)
		add_configured(c, cfg->routes[r].chats, cfg->routes[r].nchats);
	/* Chats no longer configured still get what was stored for them. */
	n = store_due_chats(c->st, due, ARRAY_LEN(due));
	for (int i = 0; i < n; i++)
		chat_add(c, due[i]);
}

void chats_reload(struct chats *c, const struct config *cfg)
{
	c->nmigr = 0;
	chats_load(c, cfg);
}

size_t chats_count(const struct chats *c)
{
	return c->n;
}

int64_t chats_id(const struct chats *c, size_t i)
{
	return i < c->n ? c->tab[i].id : 0;
}

int chats_migrate(struct chats *c, int64_t from, int64_t to, char *err,
		  size_t errlen)
{
	char key[64], val[64];

	/* A "migration" to itself would delete the chat's deliveries; one
	 * back to where it came from would bounce forever. */
	if (to == 0 || to == from || chats_resolve(c, to) == from)
		return err_set(err, errlen, "migrate_to_chat_id %" PRId64
			       " for chat %" PRId64 " makes no sense", to, from);
	if (chat_add(c, to) == NULL)
		return err_set(err, errlen, "too many chats (%d)", CHATS_MAX);
	if (store_migrate_chat(c->st, from, to) != 0)
		return err_set(err, errlen, "store: %s", store_errmsg(c->st));
	snprintf(key, sizeof(key), "migrate:%" PRId64, from);
	snprintf(val, sizeof(val), "%" PRId64, to);
	if (store_kv_set(c->st, key, val) != 0)
		return err_set(err, errlen, "store: %s", store_errmsg(c->st));
	migr_remember(c, from, to);
	return 0;
}

int chats_fail(struct chats *c, int64_t chat, const char *why)
{
	int i = chats_index(c, chat);

	if (i < 0 || c->tab[i].failed)
		return 0;
	c->tab[i].failed = 1;
	str_copy(c->tab[i].reason, why, sizeof(c->tab[i].reason));
	return 1;
}

const char *chats_failed(const struct chats *c, int64_t chat)
{
	int i = chats_index(c, chat);

	return i >= 0 && c->tab[i].failed ? c->tab[i].reason : NULL;
}

size_t chats_failed_count(const struct chats *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->tab[i].failed != 0;
	return n;
}

void chats_clear_failed(struct chats *c)
{
	for (size_t i = 0; i < c->n; i++)
		c->tab[i].failed = 0;
}
