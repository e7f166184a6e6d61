/*
 * chats.h - the destination chats and what happened to them: the table
 * of chats alerts go to (configured ones, migration targets, and chats
 * that still have stored deliveries), groups that became supergroups
 * (remembered in the store), and chats that failed for good.
 *
 * Reply-only chats (an operator's private chat) never take a slot here:
 * a stranger's /start cannot crowd out a destination. Configured chats
 * and migration targets always get one.
 */
#ifndef OPSBOT_CHATS_H
#define OPSBOT_CHATS_H

#include <stddef.h>
#include <stdint.h>

#define CHATS_MAX 512

struct chats;
struct config;
struct store;

/* NULL when out of memory. st must outlive the table. */
struct chats *chats_new(struct store *st);
void chats_free(struct chats *c);

/* (Re)loads the destinations of cfg, their migrations, and chats with
 * due deliveries. Existing entries keep their state. */
void chats_load(struct chats *c, const struct config *cfg);
/* The same after a failed commit: migrations are read again from what
 * the store holds, so one that was not stored is forgotten. */
void chats_reload(struct chats *c, const struct config *cfg);

/* The id alerts for chat go to now (followed through migrations). */
int64_t chats_resolve(const struct chats *c, int64_t chat);

/* The destinations: index 0 .. chats_count()-1, stable for the life of
 * the table (entries are never removed). */
size_t chats_count(const struct chats *c);
int64_t chats_id(const struct chats *c, size_t i);
/* Index of chat, or -1 if it is not a destination. */
int chats_index(const struct chats *c, int64_t chat);

/* Group `from` became supergroup `to`: remembered in the store (turn's
 * transaction) and its deliveries moved. -1 with a reason in err when
 * the answer makes no sense (to == from, a cycle, table full): the
 * caller treats it as a server error. */
int chats_migrate(struct chats *c, int64_t from, int64_t to, char *err,
		  size_t errlen);

/* Permanent failure (chat not found, bot blocked, kicked). Returns 1 if
 * it is new (the caller tells the operators). */
int chats_fail(struct chats *c, int64_t chat, const char *why);
/* The reason the chat failed, or NULL. */
const char *chats_failed(const struct chats *c, int64_t chat);
size_t chats_failed_count(const struct chats *c);
/* /retry_now: every failed chat is tried again. */
void chats_clear_failed(struct chats *c);

#endif
