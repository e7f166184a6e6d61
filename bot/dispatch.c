/*
 * dispatch.c - what goes to Telegram next, and what each answer means for
 * the delivery rows. See dispatch.h.
 *
 * At most one request per chat is in flight, so a chat's messages arrive
 * in the order they were sent and a 429 for it stops everything behind
 * it. Rows are marked SENDING in the turn's transaction, which commits
 * before the request leaves (the loop performs transfers only on its next
 * turn); a crash after Telegram accepted but before the answer was
 * committed repeats that message on restart, never drops it.
 *
 * A long alert's parts go one per slot; each part's success is written
 * (parts_sent, the first message_id) before the next part leaves, so a
 * restart resumes at the first part not yet delivered.
 *
 * When a commit fails (disk full), the rows written since the last good
 * commit are kept in memory (the journal) and written again every turn
 * until a commit takes them; meanwhile no new send starts, so a message
 * whose SENT could not be recorded is not sent again and again.
 */
#include "bot/dispatch.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/route.h"
#include "alerts/store.h"
#include "bot/api.h"
#include "bot/chats.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/outbox.h"
#include "bot/pacing.h"
#include "bot/stats.h"
#include "bot/telegram.h"
#include "bot/tz.h"

#define DUE_BATCH 200 /* rows looked at per decision */
#define PACK_MIN_QUIET 3 /* quiet alerts due together are packed from this
			    many on (they ring no one: fewer messages) */
#define STORM_AT 50   /* due for one chat: the storm opens with a summary */
#define LATE_MS 60000 /* delivered later than this after it came in: the
			 message says when it fired */
#define PACK_MUTE_MS 3600000LL
#define REFRESH_MAX 64 /* messages one refresh edits */
/* Rows kept while the store cannot commit: every row of a job in flight
 * to every chat, plus their outcomes. */
#define JOURNAL_MAX (2 * CHATS_MAX * DUE_BATCH)
#define JOURNAL_RETRY_MS 1000 /* a held journal is written again this often */

/* JOB_SUMMARY: a storm's opening message, no rows of its own. */
enum job_kind { JOB_ALERT, JOB_PACK, JOB_EDIT, JOB_SUMMARY };

/* Dispatch's view of a destination: index i is chats.h's index i. */
struct dest_chat {
	int64_t id;
	struct job *busy;    /* the request in flight, or a multi-part job
				waiting for its next slot */
	int storm;           /* the current storm's summary went out; reset
				once the chat's queue is empty */
};

struct job {
	struct dispatch *ds;
	enum job_kind kind;
	struct dest_chat *chat;
	struct delivery *rows;
	int64_t *received;   /* per row: when its alert came in (max_age) */
	size_t nrows;
	int64_t thread;      /* message_thread_id, 0 = none */
	char *parts[FORMAT_MAX_PARTS];
	size_t nparts, part; /* next part to send */
	int html;
	int silent;
	int64_t reply_to;
	char *markup;        /* on the last part */
	int64_t first_msg;
	int64_t sent_at;     /* mono ms the request left: ratelimit_unsent */
	int64_t not_before;  /* parked between parts: next try (mono) */
	int part_tries;      /* failed tries of the current part */
	int in_flight;
	int started;         /* its rows are marked SENDING */
};

/* Delivery rows written since the last successful commit. */
struct journal {
	struct delivery *rows; /* in write order: a later copy wins */
	size_t n, cap;
	int held;              /* a commit failed: write them again */
	int rewritten;         /* written again in this turn */
	int64_t next_try;      /* mono ms of the next rewrite while held */
	int overflowed;        /* rows were forgotten (logged once) */
};

struct dispatch {
	struct dispatch_deps d;
	struct outbox *outbox;
	struct dest_chat chats[CHATS_MAX];
	size_t nchats;
	int inflight;
	struct journal journal;
	struct tz *tz;       /* delivery.timezone, loaded when it changes */
	char tzname[TZ_NAME_MAX];
};

static void job_start(struct dispatch *ds, struct job *j);
static void blocks_restore(struct dispatch *ds);

/* --- destinations --- */

/* Picks up destinations the chat table gained (config reload, migration,
 * stored deliveries). */
static void chats_sync(struct dispatch *ds)
{
	size_t n = chats_count(ds->d.chats);

	for (; ds->nchats < n && ds->nchats < CHATS_MAX; ds->nchats++) {
		ds->chats[ds->nchats].id = chats_id(ds->d.chats, ds->nchats);
		ds->chats[ds->nchats].busy = NULL;
	}
}

static struct dest_chat *dest_chat_find(struct dispatch *ds, int64_t id)
{
	int i = chats_index(ds->d.chats, id);

	chats_sync(ds);
	return i >= 0 && (size_t)i < ds->nchats ? &ds->chats[i] : NULL;
}

static int chat_busy(void *arg, int64_t id)
{
	struct dest_chat *c = dest_chat_find(arg, id);

	return c != NULL && c->busy != NULL;
}

static void dispatch_account(void *arg, int64_t chat, int64_t sent_at,
			     const struct tg_reply *r);

struct dispatch *dispatch_new(const struct dispatch_deps *deps)
{
	struct dispatch *ds = calloc(1, sizeof(*ds));
	struct outbox_deps od = {
		.cfg = deps->cfg, .clk = deps->clk, .tg = deps->tg,
		.rl = deps->rl, .api = deps->api, .chats = deps->chats,
		.chat_busy = chat_busy, .account = dispatch_account,
	};

	if (ds == NULL)
		return NULL;
	ds->d = *deps;
	od.arg = ds;
	ds->outbox = outbox_new(&od);
	if (ds->outbox == NULL) {
		free(ds);
		return NULL;
	}
	chats_sync(ds);
	blocks_restore(ds);
	return ds;
}

struct outbox *dispatch_outbox(struct dispatch *ds)
{
	return ds->outbox;
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j->rows);
	free(j->received);
	free(j->markup);
	free(j);
}

void dispatch_free(struct dispatch *ds)
{
	if (ds == NULL)
		return;
	/* A job in flight or parked between parts is in its chat's slot;
	 * transfers are aborted without calling back before this. */
	for (size_t i = 0; i < ds->nchats; i++)
		if (ds->chats[i].busy)
			job_free(ds->chats[i].busy);
	outbox_free(ds->outbox);
	free(ds->journal.rows);
	tz_free(ds->tz);
	free(ds);
}

int dispatch_inflight(const struct dispatch *ds)
{
	return ds->inflight + outbox_inflight(ds->outbox);
}

/* --- recording outcomes --- */

/* Keeps a copy of r until a commit makes it durable. */
static void journal_add(struct dispatch *ds, const struct delivery *r)
{
	struct journal *jn = &ds->journal;

	if (jn->n == jn->cap) {
		size_t cap = jn->cap ? jn->cap * 2 : 64;
		struct delivery *p;

		if (cap > JOURNAL_MAX)
			cap = JOURNAL_MAX;
		if (jn->n == cap ||
		    (p = realloc(jn->rows, cap * sizeof(*p))) == NULL) {
			if (!jn->overflowed)
				log_error("dispatch: %zu delivery rows wait "
					  "for the store; more are not kept "
					  "(they may be sent again)", jn->n);
			jn->overflowed = 1;
			return;
		}
		jn->rows = p;
		jn->cap = cap;
	}
	jn->rows[jn->n++] = *r;
}

static void row_write(struct dispatch *ds, struct delivery *r)
{
	r->updated_at = ds->d.clk->wall;
	journal_add(ds, r);
	if (store_delivery_update(ds->d.store, r) != 0)
		log_error("store: %s", store_errmsg(ds->d.store));
}

static void rows_write(struct dispatch *ds, struct job *j)
{
	for (size_t i = 0; i < j->nrows; i++)
		row_write(ds, &j->rows[i]);
}

/* When the held journal is written again: every second, or at once
 * when some other write has just committed (the disk has room). */
static int64_t journal_due(const struct dispatch *ds)
{
	const struct journal *jn = &ds->journal;

	if (!jn->held)
		return INT64_MAX;
	return store_healthy(ds->d.store) ? ds->d.clk->now : jn->next_try;
}

/* After a failed commit: the journal's rows again, in this turn's
 * transaction (oldest first, so each row ends in its latest state). */
static void journal_rewrite(struct dispatch *ds)
{
	struct journal *jn = &ds->journal;

	if (ds->d.clk->now < journal_due(ds))
		return;
	jn->next_try = ds->d.clk->now + JOURNAL_RETRY_MS;
	jn->rewritten = 1;
	for (size_t i = 0; i < jn->n; i++)
		if (store_delivery_update(ds->d.store, &jn->rows[i]) != 0)
			break; /* the commit will fail; the next try repeats */
}

/* No new send while what was sent cannot be recorded: the store would
 * still show those rows due. */
static int sends_held(const struct dispatch *ds)
{
	return ds->journal.held;
}

void dispatch_committed(struct dispatch *ds, int ok)
{
	struct journal *jn = &ds->journal;
	int rewritten = jn->rewritten;

	jn->rewritten = 0;
	if (ok && (!jn->held || rewritten)) {
		if (jn->held)
			log_info("store writable again: %zu delivery row(s) "
				 "recorded; sending resumes", jn->n);
		jn->n = 0;
		jn->held = 0;
		jn->overflowed = 0;
		if (jn->cap > 1024) { /* a big turn's peak is not kept */
			free(jn->rows);
			jn->rows = NULL;
			jn->cap = 0;
		}
		return;
	}
	if (ok || jn->n == 0)
		return; /* held: not written this turn, still owed */
	if (!jn->held) {
		log_error("store: %zu delivery row(s) not recorded; kept in "
			  "memory, no new sends until the store commits "
			  "again", jn->n);
		jn->next_try = ds->d.clk->now + JOURNAL_RETRY_MS;
	}
	jn->held = 1;
}

/* Every row of the job to state (due at due), adding flags (DF_*) and,
 * when err is not NULL, recording it. */
static void rows_set(struct job *j, int state, int64_t due, const char *err,
		     int flags)
{
	for (size_t i = 0; i < j->nrows; i++) {
		j->rows[i].state = state;
		j->rows[i].flags |= flags;
		j->rows[i].due_at = due;
		if (err)
			str_copy(j->rows[i].last_error, err,
				 sizeof(j->rows[i].last_error));
	}
}

static void rows_sent(struct dispatch *ds, struct job *j, int64_t msg)
{
	for (size_t i = 0; i < j->nrows; i++) {
		struct delivery *r = &j->rows[i];

		r->state = DS_SENT;
		r->due_at = 0;
		r->message_id = msg;
		r->sent_at = ds->d.clk->wall;
		r->attempts++;
		r->last_error[0] = '\0';
		if (j->kind == JOB_PACK)
			r->flags |= DF_PACKED;
		stats_delivery(ds->d.stats, ds->d.clk->now, ST_DELIVERY_SENT,
			       r->attempts, r->sent_at - j->received[i]);
	}
}

/* Rows that just became FAILED for good, for the statistics. */
static void rows_count_failed(struct dispatch *ds, const struct job *j)
{
	for (size_t i = 0; i < j->nrows; i++)
		if (j->rows[i].state == DS_FAILED)
			stats_delivery(ds->d.stats, ds->d.clk->now,
				       ST_DELIVERY_FAILED, j->rows[i].attempts,
				       -1);
}

static enum stat_retry retry_reason(const struct tg_reply *r)
{
	if (r->outcome == TG_RATE_LIMITED)
		return ST_RETRY_429;
	return stats_retry_reason(r->http_status, r->curl_code);
}

/* Transient failure: back off, or give up once the alert is too old. */
static void rows_retry(struct dispatch *ds, struct job *j, const char *err,
		       int64_t min_delay, enum stat_retry why)
{
	const struct config *cfg = ds->d.cfg;
	int64_t wall = ds->d.clk->wall;

	for (size_t i = 0; i < j->nrows; i++) {
		struct delivery *r = &j->rows[i];
		int64_t delay = backoff_delay(r->attempts,
					      (int64_t)(cfg->retry_base * 1000),
					      (int64_t)(cfg->retry_cap * 1000),
					      ds->d.rng);

		r->attempts++;
		str_copy(r->last_error, err, sizeof(r->last_error));
		if (delay < min_delay)
			delay = min_delay;
		if (wall - j->received[i] > (int64_t)cfg->max_age * 1000) {
			r->state = DS_FAILED;
			r->due_at = 0;
			snprintf(r->last_error, sizeof(r->last_error),
				 "gave up after %d attempts: %s", r->attempts,
				 err);
			stats_delivery(ds->d.stats, ds->d.clk->now,
				       ST_DELIVERY_EXPIRED, r->attempts, -1);
		} else {
			r->state = DS_RETRYING;
			r->due_at = wall + delay;
			stats_retry(ds->d.stats, ds->d.clk->now, why);
		}
	}
}

static void outage_summary(struct dispatch *ds)
{
	const struct clock *clk = ds->d.clk;
	int64_t since = api_down_since(ds->d.api);
	struct store_stats st;
	char from[16], to[16], dur[32], html[512];
	int64_t backlog = 0;

	fmt_clock(from, sizeof(from), clk->wall - (clk->now - since),
		  "%H:%M:%S");
	fmt_clock(to, sizeof(to), clk->wall, "%H:%M:%S");
	fmt_duration(dur, sizeof(dur), clk->now - since);
	if (store_stats(ds->d.store, clk->wall, &st) == 0)
		backlog = st.by_state[DS_PENDING] + st.by_state[DS_RETRYING];
	snprintf(html, sizeof(html),
		 "📶 Telegram was unreachable from %s to %s (%s); %" PRId64
		 " alert(s) delayed, now being delivered.", from, to, dur,
		 backlog);
	log_info("Telegram reachable again after %s; %" PRId64
		 " deliveries delayed", dur, backlog);
	outbox_notify(ds->outbox, html);
}

static void rate_limited(struct dispatch *ds, int64_t chat,
			 const struct tg_reply *r)
{
	int capped;
	int64_t ms = api_retry_after_ms(ds->d.api, r, &capped);

	if (capped) {
		char html[256];

		log_warnx("Telegram asked to wait %d s for chat %" PRId64
			  "; obeying only %" PRId64 " s (limits."
			  "retry_after_cap)", r->retry_after, chat, ms / 1000);
		snprintf(html, sizeof(html), "⏳ Telegram asked opsbot to "
			 "wait %d s before sending to <code>%" PRId64
			 "</code>; waiting %" PRId64 " s "
			 "(limits.retry_after_cap).", r->retry_after, chat,
			 ms / 1000);
		outbox_notify(ds->outbox, html);
	} else {
		log_warnx("429 from Telegram for chat %" PRId64
			  ": waiting %" PRId64 " s", chat, ms / 1000);
	}
	ratelimit_block(ds->d.rl, chat, ds->d.clk->now + ms);
	/* Remembered across a restart: Telegram lengthens a block that is
	 * not respected. */
	if (store_block_set(ds->d.store, chat, ds->d.clk->wall + ms) != 0)
		log_error("store: %s", store_errmsg(ds->d.store));
}

/* 429 blocks of an earlier run that are still in force. */
static void blocks_restore(struct dispatch *ds)
{
	struct store_block b[64];
	int n = store_blocks(ds->d.store, ds->d.clk->wall, b, ARRAY_LEN(b));

	for (int i = 0; i < n; i++) {
		ratelimit_block(ds->d.rl, b[i].chat,
				clock_wall_to_mono(ds->d.clk, b[i].until));
		int64_t s = (b[i].until - ds->d.clk->wall + 999) / 1000;

		if (b[i].chat != 0)
			log_info("429 block of an earlier run: nothing to chat "
				 "%" PRId64 " for %" PRId64 " s", b[i].chat, s);
		else
			log_info("429 block of an earlier run: nothing to any "
				 "chat for %" PRId64 " s", s);
	}
}

/* Bookkeeping common to every answer, alert or reply: the API state,
 * 429 blocks, and the rate limiter's view of what Telegram received. */
static void dispatch_account(void *arg, int64_t chat, int64_t sent_at,
			     const struct tg_reply *r)
{
	struct dispatch *ds = arg;

	if (r->outcome == TG_TRANSIENT) {
		/* No HTTP answer at all: it did not count against the limits. */
		if (r->http_status == 0 && sent_at != 0)
			ratelimit_unsent(ds->d.rl, chat, sent_at);
	}
	switch (api_account(ds->d.api, r, API_SEND)) {
	case API_OPENED:
		log_warnx("Telegram API unreachable (%s); sending paused, "
			  "probing with backoff", r->description);
		break;
	case API_RECOVERED:
		outage_summary(ds);
		break;
	case API_PAUSED:
		log_error("Telegram says 401 Unauthorized: the bot token is "
			  "wrong or revoked. Sending is paused (nothing is "
			  "lost) and retried every 5 minutes; fix the token (a "
			  "SIGHUP re-reads token_file).");
		break;
	case API_RESUMED:
		log_info("the bot token works again");
		break;
	case API_NONE:
		break;
	}
	if (r->outcome == TG_RATE_LIMITED)
		rate_limited(ds, chat, r);
}

static void chat_failed(struct dispatch *ds, struct dest_chat *c,
			const char *why)
{
	char html[400];

	if (!chats_fail(ds->d.chats, c->id, why))
		return;
	log_error("chat %" PRId64 " failed permanently: %s; its alerts are "
		  "kept (/retry_now tries again)", c->id, why);
	snprintf(html, sizeof(html),
		 "⚠️ Chat <code>%" PRId64 "</code> cannot receive alerts: %s. "
		 "Fix it, then /retry_now.", c->id, why);
	outbox_notify(ds->outbox, html);
}

/* Group became supergroup: its rows move and go out again at once. A
 * migration that makes no sense is a server error: back off. */
static int chat_migrate(struct dispatch *ds, struct dest_chat *c, int64_t to)
{
	char err[160];

	if (chats_migrate(ds->d.chats, c->id, to, err, sizeof(err)) != 0) {
		log_warnx("chat %" PRId64 ": %s; retrying later", c->id, err);
		return -1;
	}
	log_warnx("group %" PRId64 " became supergroup %" PRId64 "; alerts "
		  "go there now (update telegram.chats in %s)", c->id, to,
		  ds->d.cfg->path);
	ratelimit_migrate(ds->d.rl, c->id, to);
	chats_sync(ds);
	return 0;
}

/* A request that failed permanently for its payload: try plain text
 * once (our HTML or Telegram's parser is at fault), then give up. */
static void rows_payload_failed(struct job *j, const char *err)
{
	for (size_t i = 0; i < j->nrows; i++) {
		struct delivery *r = &j->rows[i];

		r->attempts++;
		r->parts_sent = 0; /* plain text is split differently */
		str_copy(r->last_error, err, sizeof(r->last_error));
		if (r->flags & DF_PLAIN) {
			r->state = DS_FAILED;
			r->due_at = 0;
		} else {
			r->flags |= DF_PLAIN;
			r->state = DS_PENDING;
			r->due_at = j->ds->d.clk->wall;
		}
	}
}

/* Part j->part - 1 of a long alert is in the chat: recorded (turn's
 * transaction, committed before the next part leaves) so that a restart
 * resumes after it. */
static void rows_part_sent(struct dispatch *ds, struct job *j)
{
	for (size_t i = 0; i < j->nrows; i++) {
		j->rows[i].parts_sent = (int)j->part;
		j->rows[i].message_id = j->first_msg;
	}
	rows_write(ds, j);
}

static void rows_parts_reset(struct job *j)
{
	for (size_t i = 0; i < j->nrows; i++)
		j->rows[i].parts_sent = 0;
}

static void alert_outcome(struct dispatch *ds, struct job *j,
			  const struct tg_reply *r)
{
	int64_t wall = ds->d.clk->wall;
	struct dest_chat *c = j->chat;
	int capped;

	switch (r->outcome) {
	case TG_OK:
	case TG_NOT_MODIFIED:
		if (j->kind == JOB_EDIT) {
			/* Original shows "resolved"; the note follows. */
			rows_set(j, DS_PENDING, wall, NULL, DF_EDITED);
			break;
		}
		if (j->part == 0)
			j->first_msg = r->message_id;
		if (++j->part < j->nparts) {
			rows_part_sent(ds, j);
			return; /* the next part waits for its slot */
		}
		rows_sent(ds, j, j->first_msg);
		break;
	case TG_MSG_GONE:
		/* The original to edit is gone: just send the resolution. */
		rows_set(j, DS_PENDING, wall, r->description, DF_EDITED);
		break;
	case TG_RATE_LIMITED:
		rows_retry(ds, j, r->description,
			   api_retry_after_ms(ds->d.api, r, &capped),
			   ST_RETRY_429);
		break;
	case TG_BAD_HTML:
	case TG_TOO_LONG:
	case TG_BAD_REQUEST:
		log_warnx("chat %" PRId64 ": Telegram refused a message (%s); "
			  "%s", c->id, r->description, j->nrows == 0 ||
			  (j->rows[0].flags & DF_PLAIN) ? "giving up" :
			  "resending as plain text");
		rows_payload_failed(j, r->description);
		rows_count_failed(ds, j);
		break;
	case TG_CHAT_GONE:
		chat_failed(ds, c, r->description);
		rows_set(j, DS_FAILED, 0, r->description, 0);
		rows_count_failed(ds, j);
		break;
	case TG_MIGRATED:
		/* Written first: the migration then moves these rows too
		 * (from the first part: none is in the new chat). */
		rows_set(j, DS_PENDING, wall, NULL, 0);
		rows_parts_reset(j);
		rows_write(ds, j);
		if (chat_migrate(ds, c, r->migrate_to) == 0)
			return;
		rows_retry(ds, j, "nonsensical migrate_to_chat_id", 0,
			   ST_RETRY_OTHER);
		break;
	case TG_THREAD_GONE:
		rows_set(j, DS_PENDING, wall, r->description, DF_NO_THREAD);
		rows_parts_reset(j);
		break;
	case TG_UNAUTHORIZED:
		rows_set(j, DS_PENDING, wall, r->description, 0);
		break;
	default: /* transient, conflicts */
		rows_retry(ds, j, r->description, 0, retry_reason(r));
		break;
	}
	rows_write(ds, j);
}

/* Parts of a long alert are already in the chat and the next one met a
 * 429 or a transient error: that part alone is tried again (the 429's
 * block or a backoff later), so the chat never sees part 1 twice. */
static int part_retry(struct dispatch *ds, struct job *j,
		      const struct tg_reply *r)
{
	const struct config *cfg = ds->d.cfg;

	if (j->part == 0 || j->kind == JOB_EDIT ||
	    (r->outcome != TG_TRANSIENT && r->outcome != TG_RATE_LIMITED))
		return 0;
	j->not_before = ds->d.clk->now;
	if (r->outcome == TG_TRANSIENT)
		j->not_before += backoff_delay(j->part_tries,
					       (int64_t)(cfg->retry_base * 1000),
					       (int64_t)(cfg->retry_cap * 1000),
					       ds->d.rng);
	j->part_tries++;
	return 1;
}

static void on_alert_done(void *arg, const struct tg_reply *r)
{
	struct job *j = arg;
	struct dispatch *ds = j->ds;

	ds->inflight--;
	j->in_flight = 0;
	dispatch_account(ds, j->chat->id, j->sent_at, r);
	if (part_retry(ds, j, r))
		return; /* stays parked in chat->busy */
	j->part_tries = 0;
	alert_outcome(ds, j, r);
	if (j->part < j->nparts && j->kind != JOB_EDIT &&
	    (r->outcome == TG_OK || r->outcome == TG_NOT_MODIFIED))
		return; /* parked in chat->busy until its next slot */
	j->chat->busy = NULL;
	job_free(j);
}

/* --- building requests for alerts --- */

static int alert_silent(const struct config *cfg, const struct alert *a)
{
	return a->status == ALERT_RESOLVED ||
	       (int)a->severity > cfg->notify_severity;
}

/* Would this alert carry Ack / Mute buttons on its own? */
static int alert_has_buttons(const struct config *cfg, const struct alert *a)
{
	return cfg->buttons && a->status == ALERT_FIRING &&
	       a->severity <= SEV_ERROR;
}

static char *alert_buttons(const struct config *cfg, const struct alert *a)
{
	char ack[32], mute[32];
	const char *labels[2] = { "✅ Ack", "🔕 Mute 1h" };
	const char *data[2] = { ack, mute };

	if (!alert_has_buttons(cfg, a))
		return NULL;
	snprintf(ack, sizeof(ack), "ack:%" PRId64, a->id);
	snprintf(mute, sizeof(mute), "mute:%" PRId64, a->id);
	return tg_markup_buttons(labels, data, 2);
}

/* A pack's buttons name it by one of its alerts and its chat (a message
 * id is not known before it is sent): "ackp:<alert id>:<chat id>", at
 * most 5 + 19 + 1 + 20 bytes, within Telegram's 64. */
static char *pack_buttons(int64_t alert_id, int64_t chat, size_t n)
{
	char ack[64], mute[64], label[48];
	const char *labels[2] = { label, "🔕 Mute these sources 1h" };
	const char *data[2] = { ack, mute };

	snprintf(label, sizeof(label), "✅ Ack all %zu", n);
	snprintf(ack, sizeof(ack), "ackp:%" PRId64 ":%" PRId64, alert_id, chat);
	snprintf(mute, sizeof(mute), "mutep:%" PRId64 ":%" PRId64, alert_id,
		 chat);
	return tg_markup_buttons(labels, data, 2);
}

/* delivery.timezone, (re)loaded when the configuration names another;
 * NULL (UTC) if it cannot be loaded (check-config loaded it). */
static const struct tz *dispatch_tz(struct dispatch *ds)
{
	char err[256];

	if (strcmp(ds->tzname, ds->d.cfg->timezone) != 0) {
		tz_free(ds->tz);
		ds->tz = NULL;
		str_copy(ds->tzname, ds->d.cfg->timezone, sizeof(ds->tzname));
		if (tz_load(&ds->tz, ds->tzname, err, sizeof(err)) != 0)
			log_warnx("delivery.timezone: %s; using UTC", err);
	}
	return ds->tz;
}

/* "14 min", "2 h 5 min", "3 d" */
static void fmt_ago(char *dst, size_t size, int64_t ms)
{
	int64_t m = ms / 60000;

	if (m < 1)
		snprintf(dst, size, "%" PRId64 " s", ms / 1000);
	else if (m < 60)
		snprintf(dst, size, "%" PRId64 " min", m);
	else if (m < 48 * 60)
		snprintf(dst, size, "%" PRId64 " h %" PRId64 " min", m / 60,
			 m % 60);
	else
		snprintf(dst, size, "%" PRId64 " d", m / 1440);
}

/* For an alert that came in at `received` and reaches the chat at `at`
 * (now, or the sent_at of a message being edited): "fired 12:03, 14 min
 * ago" (edit: "fired 12:03, delivered 14 min late") in delivery.timezone,
 * or NULL when it is not late. */
static const char *late_note(struct dispatch *ds, int64_t received,
			     int64_t at, int edit, char *dst, size_t size)
{
	char when[32], ago[32];
	int64_t late = at - received;

	if (received <= 0 || late <= LATE_MS)
		return NULL;
	tz_format(dispatch_tz(ds), when, sizeof(when), received,
		  late >= 86400000 ? "%Y-%m-%d %H:%M" : "%H:%M");
	fmt_ago(ago, sizeof(ago), late);
	snprintf(dst, size, edit ? "fired %s, delivered %s late" :
		 "fired %s, %s ago", when, ago);
	return dst;
}

static struct job *job_new(struct dispatch *ds, enum job_kind kind,
			   struct dest_chat *c, const struct due_item *items,
			   size_t n)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->ds = ds;
	j->kind = kind;
	j->chat = c;
	j->html = 1;
	j->rows = calloc(n ? n : 1, sizeof(*j->rows));
	j->received = calloc(n ? n : 1, sizeof(*j->received));
	if (j->rows == NULL || j->received == NULL) {
		job_free(j);
		return NULL;
	}
	if (n > 0 && !(items[0].d.flags & DF_NO_THREAD))
		j->thread = items[0].d.thread_id;
	for (size_t i = 0; i < n; i++) {
		j->rows[i] = items[i].d;
		j->received[i] = items[i].a.received_at;
	}
	j->nrows = n;
	return j;
}

static int job_format_single(struct dispatch *ds, struct job *j,
			     const struct due_item *it, int64_t reply_to)
{
	const struct alert *a = &it->a;
	struct format_extra x = { 0 };
	char late[96];
	char *note;
	int n;

	if (reply_to && !(it->d.flags & DF_PLAIN)) {
		/* the resolution, under its original */
		note = format_resolved_note(a);
		if (note == NULL)
			return -1;
		j->parts[0] = note;
		j->nparts = 1;
		j->reply_to = reply_to;
	} else {
		/* an alert of its own, or a resolution whose HTML was refused:
		 * the whole alert (as plain text), under the original if any */
		if (a->status == ALERT_FIRING)
			x.late = late_note(ds, a->received_at,
					   ds->d.clk->wall, 0, late,
					   sizeof(late));
		n = route_format(ds->d.cfg, a, &x, it->d.chat_id,
				 (it->d.flags & DF_PLAIN) != 0, j->parts,
				 FORMAT_MAX_PARTS);
		if (n < 1)
			return -1;
		j->nparts = (size_t)n;
		j->markup = alert_buttons(ds->d.cfg, a);
		j->reply_to = reply_to;
	}
	j->html = !(it->d.flags & DF_PLAIN);
	j->silent = alert_silent(ds->d.cfg, a);
	return 0;
}

/* --- packs --- */

/* The order of a pack's lines: by severity, then by source (a line
 * leaves out the source when it is the one above, so a storm from a few
 * sources packs denser), then by id. The same for a pack being built and
 * for one re-rendered from the store, so that an edit keeps its lines
 * where they were. */
static int pack_cmp(const struct alert *a, const struct alert *b)
{
	int c;

	if (a->severity != b->severity)
		return a->severity < b->severity ? -1 : 1;
	c = strcmp(a->source ? a->source : "", b->source ? b->source : "");
	if (c != 0)
		return c;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int due_cmp(const void *x, const void *y)
{
	return pack_cmp(&((const struct due_item *)x)->a,
			&((const struct due_item *)y)->a);
}

/* --- packs as they stand in the store --- */

struct pack_view {
	struct due_item items[DUE_BATCH]; /* rows with their alerts */
	struct pack_line lines[DUE_BATCH];
	char acked[DUE_BATCH][64];
	size_t n;
};

static void pack_view_free(struct pack_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		alert_free(&v->items[i].a);
	v->n = 0;
}

/* Loads the rows and alerts of pack (chat, msg). 0, or -1 if there is no
 * such pack (or the store fails). */
static int pack_view_load(struct dispatch *ds, int64_t chat, int64_t msg,
			  struct pack_view *v)
{
	struct delivery rows[DUE_BATCH];
	int64_t at;
	int n = store_pack_rows(ds->d.store, chat, msg, rows, DUE_BATCH);

	v->n = 0;
	for (int i = 0; i < n; i++) {
		if (store_alert_get(ds->d.store, rows[i].alert_id,
				    &v->items[v->n].a) != 1)
			continue;
		v->items[v->n++].d = rows[i];
	}
	qsort(v->items, v->n, sizeof(v->items[0]), due_cmp);
	for (size_t i = 0; i < v->n; i++) {
		struct pack_line *l = &v->lines[i];

		l->a = &v->items[i].a;
		l->resolved = (v->items[i].d.flags & DF_RESOLVED) != 0;
		l->acked_by = store_ack_get(ds->d.store, l->a->id, v->acked[i],
					    sizeof(v->acked[0]), &at) == 1 ?
			      v->acked[i] : NULL;
	}
	return v->n > 0 ? 0 : -1;
}

/* The pack's text and buttons as they should read now: lines resolved
 * and acked marked, buttons while a line still wants them. */
static int pack_view_render(struct dispatch *ds, const struct pack_view *v,
			    int64_t chat, char **html, char **markup)
{
	struct pack_opts o = { .dense = v->n > FORMAT_PACK_DENSE_AT };
	int64_t oldest = INT64_MAX;
	char late[96];
	size_t open = 0;

	*markup = NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct alert *a = &v->items[i].a;

		if (a->received_at < oldest)
			oldest = a->received_at;
		if (alert_has_buttons(ds->d.cfg, a) &&
		    !v->lines[i].resolved && v->lines[i].acked_by == NULL)
			open++;
	}
	o.late = late_note(ds, oldest, v->items[0].d.sent_at, 1, late,
			   sizeof(late));
	if (format_pack_lines(v->lines, v->n, &o, html) == 0)
		return -1;
	if (open > 0)
		*markup = pack_buttons(v->items[0].a.id, chat, v->n);
	return 0;
}

/* --- choosing the next message --- */

/* A resolution whose original was sent: its delivery row (1), or 0. */
/* Whose keys the alert's key is among (socket.key_scope). */
static int64_t key_peer(const struct dispatch *ds, const struct due_item *it)
{
	return store_key_peer(ds->d.cfg->key_scope == KEY_SCOPE_SHARED,
			      it->a.peer_uid);
}

static int original_of(const struct dispatch *ds, const struct due_item *it,
		       struct delivery *orig)
{
	return it->a.status == ALERT_RESOLVED && it->a.key &&
	       store_original_delivery(ds->d.store, it->a.key,
				       key_peer(ds, it), it->d.chat_id,
				       it->a.id, orig) == 1;
}

/* A long alert whose first parts reached the chat before a restart goes
 * on from the first part that did not. */
static void job_resume(struct job *j)
{
	const struct delivery *r = &j->rows[0];

	if (r->parts_sent <= 0 || j->nparts < 2)
		return;
	j->part = (size_t)r->parts_sent < j->nparts ?
		  (size_t)r->parts_sent : j->nparts - 1;
	j->first_msg = r->message_id;
}

/* A resolution whose original was sent: first edit the original (a
 * single alert: to show it resolved; a pack: that line marked resolved)
 * then (DF_EDITED) reply under it. If Telegram refused the edit's HTML
 * (DF_PLAIN), the same bytes are not tried again: the resolution goes as
 * a plain reply. */
static struct job *job_for_resolved(struct dispatch *ds, struct dest_chat *c,
				    const struct due_item *it,
				    struct delivery *orig)
{
	struct alert oa;
	struct format_extra x = { .resolved = 1 };
	struct pack_view *v = NULL;
	struct job *j;
	char *parts[FORMAT_MAX_PARTS];
	int n;

	j = job_new(ds, (it->d.flags & (DF_EDITED | DF_PLAIN)) ? JOB_ALERT :
		    JOB_EDIT, c, it, 1);
	if (j == NULL)
		return NULL;
	if (j->kind == JOB_ALERT) {
		if (job_format_single(ds, j, it, orig->message_id) != 0)
			goto fail;
		return j;
	}
	j->reply_to = orig->message_id; /* for the edit: which message */
	j->nparts = 1;
	if (orig->flags & DF_PACKED) {
		/* the line shows resolved from now on, in every re-render */
		orig->flags |= DF_RESOLVED;
		row_write(ds, orig);
		if ((v = malloc(sizeof(*v))) == NULL ||
		    pack_view_load(ds, c->id, orig->message_id, v) != 0)
			goto fail;
		n = pack_view_render(ds, v, c->id, &j->parts[0], &j->markup);
		pack_view_free(v);
		free(v);
		v = NULL;
		if (n != 0)
			goto fail;
		return j;
	}
	if (store_alert_get(ds->d.store, orig->alert_id, &oa) != 1)
		goto fail;
	x.resolved_at = it->a.received_at;
	n = route_format(ds->d.cfg, &oa, &x, c->id, 0, parts,
			 FORMAT_MAX_PARTS);
	alert_free(&oa);
	if (n < 1)
		goto fail;
	j->parts[0] = parts[0]; /* the first message carries the header */
	for (int i = 1; i < n; i++)
		free(parts[i]);
	return j;
fail:
	free(v);
	job_free(j);
	return NULL;
}

/* May it go in a pack? Resolutions are edits and replies under their
 * original (job_for_resolved), unless the backlog is deep: then one
 * whose original was packed rides in a quiet pack too (its original's
 * line is marked resolved for later re-renders). */
static int packable(const struct dispatch *ds, const struct due_item *it,
		    int deep)
{
	struct delivery orig;

	if (it->d.flags & DF_PLAIN)
		return 0;
	if (it->a.status == ALERT_RESOLVED && it->a.key &&
	    !(it->d.flags & DF_EDITED) &&
	    original_of(ds, it, &orig) &&
	    (!deep || !(orig.flags & DF_PACKED)))
		return 0;
	return 1;
}

/* Packed resolutions: their originals' lines read resolved from now on. */
static void pack_mark_resolved(struct dispatch *ds, const struct due_item *it)
{
	struct delivery orig;

	if (original_of(ds, it, &orig) && (orig.flags & DF_PACKED) &&
	    !(orig.flags & DF_RESOLVED)) {
		orig.flags |= DF_RESOLVED;
		row_write(ds, &orig);
	}
}

/* Packs the due items of the head's thread that ring (ring = 1) or do
 * not (0): a message that rings holds only alerts that would ring on
 * their own. NULL when fewer than two qualify. */
static struct job *job_for_pack(struct dispatch *ds, struct dest_chat *c,
				struct due_item *items, size_t n, int ring,
				int deep)
{
	struct pack_line lines[DUE_BATCH];
	struct due_item picked[DUE_BATCH];
	struct pack_opts o = { 0 };
	size_t k = 0, packed, nbuttons = 0;
	int64_t oldest = INT64_MAX;
	struct job *j;
	char *html = NULL, late[96];

	for (size_t i = 0; i < n && k < DUE_BATCH; i++)
		if (items[i].d.thread_id == items[0].d.thread_id &&
		    (items[i].d.flags & DF_NO_THREAD) ==
		    (items[0].d.flags & DF_NO_THREAD) &&
		    alert_silent(ds->d.cfg, &items[i].a) == !ring &&
		    packable(ds, &items[i], deep)) {
			picked[k++] = items[i];
			if (items[i].a.received_at < oldest)
				oldest = items[i].a.received_at;
		}
	if (k < 2)
		return NULL;
	/* picked shares the alerts' strings with items (freed by the
	 * caller); job_new copies only the rows. */
	qsort(picked, k, sizeof(picked[0]), due_cmp);
	for (size_t i = 0; i < k; i++)
		lines[i] = (struct pack_line){ .a = &picked[i].a };
	o.dense = k > FORMAT_PACK_DENSE_AT;
	o.late = late_note(ds, oldest, ds->d.clk->wall, 0, late,
			   sizeof(late));
	packed = format_pack_lines(lines, k, &o, &html);
	if (packed == 0 || html == NULL) {
		free(html);
		return NULL;
	}
	j = job_new(ds, JOB_PACK, c, picked, packed);
	if (j == NULL) {
		free(html);
		return NULL;
	}
	j->parts[0] = html;
	j->nparts = 1;
	j->silent = !ring;
	for (size_t i = 0; i < packed; i++) {
		nbuttons += alert_has_buttons(ds->d.cfg, lines[i].a);
		if (picked[i].a.status == ALERT_RESOLVED)
			pack_mark_resolved(ds, &picked[i]);
	}
	if (nbuttons > 0)
		j->markup = pack_buttons(picked[0].a.id, c->id, packed);
	return j;
}

/* The storm's opening message: how much is queued, by severity, and the
 * sources with most alerts. It rings if any of it would. */
static struct job *job_for_summary(struct dispatch *ds, struct dest_chat *c,
				   const struct due_item *items)
{
	struct queue_summary q;
	struct buf b;
	struct job *j;
	int ring = 0;

	if (store_queue_summary(ds->d.store, c->id, ds->d.clk->wall, &q) != 0 ||
	    q.total < STORM_AT)
		return NULL;
	buf_init(&b, TG_MAX_TEXT);
	buf_printf(&b, "🌩 <b>%s%" PRId64 " alerts queued</b>",
		   q.capped ? "over " : "", q.total);
	for (int s = 0; s < SEV_COUNT; s++) {
		if (q.by_severity[s] == 0)
			continue;
		buf_printf(&b, "\n%s %s: %" PRId64, format_marker((enum severity)s),
			   severity_name((enum severity)s), q.by_severity[s]);
		if (s <= ds->d.cfg->notify_severity)
			ring = 1;
	}
	if (q.nsources > 0)
		buf_printf(&b, "\nTop sources:");
	for (size_t i = 0; i < q.nsources; i++) {
		buf_printf(&b, "%s <code>", i ? "," : "");
		if (q.sources[i].source[0])
			html_escape(&b, q.sources[i].source,
				    strlen(q.sources[i].source), 0);
		else
			buf_printf(&b, "(none)");
		buf_printf(&b, "</code> %" PRId64, q.sources[i].n);
	}
	buf_printf(&b, "\n<i>Packed messages follow; /alerts lists them.</i>");
	if (b.data == NULL || (j = job_new(ds, JOB_SUMMARY, c, items, 0)) ==
	    NULL) {
		buf_free(&b);
		return NULL;
	}
	if (!(items[0].d.flags & DF_NO_THREAD))
		j->thread = items[0].d.thread_id;
	j->parts[0] = b.data;
	j->nparts = 1;
	j->silent = !ring;
	return j;
}

/* Would the chat's budget clear n more messages within
 * delivery.pack_after? */
static int budget_clears(struct dispatch *ds, const struct dest_chat *c, size_t n)
{
	int64_t now = ds->d.clk->now;

	return ratelimit_drain(ds->d.rl, c->id, (int)n, now) - now <=
	       (int64_t)ds->d.cfg->pack_after * 1000;
}

/* Packing is by the time the backlog needs, not by its count: alerts that
 * ring go out singly, with their buttons, while the chat's budget clears
 * all of them within delivery.pack_after; beyond that they are packed
 * (with a summary first when it is a storm). Quiet ones are packed from
 * PACK_MIN_QUIET on, and never share a message with ringing ones. */
static struct job *job_for_chat(struct dispatch *ds, struct dest_chat *c,
				struct due_item *items, size_t n)
{
	const struct config *cfg = ds->d.cfg;
	struct due_item *it = &items[0];
	struct delivery orig;
	struct job *j;
	size_t nring = 0, nquiet = 0;
	int ring = !alert_silent(cfg, &it->a), deep;

	for (size_t i = 0; i < n; i++) {
		if (!alert_silent(cfg, &items[i].a))
			nring++;
		else if (packable(ds, &items[i], 0))
			nquiet++;
	}
	deep = !budget_clears(ds, c, n);
	if (cfg->pack && n >= STORM_AT && !c->storm &&
	    (j = job_for_summary(ds, c, items)) != NULL) {
		c->storm = 1;
		return j;
	}
	if (cfg->pack && (ring ? !budget_clears(ds, c, nring) :
			  deep || nquiet >= PACK_MIN_QUIET) &&
	    (j = job_for_pack(ds, c, items, n, ring, deep)) != NULL)
		return j;
	if (original_of(ds, it, &orig))
		return job_for_resolved(ds, c, it, &orig);
	j = job_new(ds, JOB_ALERT, c, it, 1);
	if (j != NULL && job_format_single(ds, j, it, 0) != 0) {
		job_free(j);
		j = NULL;
	}
	if (j != NULL)
		job_resume(j);
	return j;
}

static char *job_body(const struct dispatch *ds, const struct job *j)
{
	int64_t thread = j->thread;
	int last = j->part + 1 == j->nparts;
	int no_preview = !ds->d.cfg->link_preview;

	if (j->kind == JOB_EDIT) /* a pack keeps its buttons */
		return tg_body_edit(j->chat->id, j->reply_to, j->parts[0],
				    j->html, no_preview, j->markup);
	return tg_body_send(j->chat->id, thread, j->parts[j->part], j->html,
			    j->silent, no_preview,
			    j->part == 0 ? j->reply_to : 0,
			    last ? j->markup : NULL);
}

static void job_start(struct dispatch *ds, struct job *j)
{
	int64_t now = ds->d.clk->now;
	char *body = job_body(ds, j);

	if (!j->started) {
		rows_set(j, DS_SENDING, 0, NULL, 0);
		rows_write(ds, j);
		j->started = 1;
	}
	ratelimit_sent(ds->d.rl, j->chat->id, now);
	j->sent_at = now;
	j->chat->busy = j;
	j->in_flight = 1;
	if (tg_call(ds->d.tg, j->kind == JOB_EDIT ? "editMessageText" :
		    "sendMessage", body, 0, on_alert_done, j) != 0) {
		/* Out of memory here, not Telegram's fault: retry later. */
		log_error("chat %" PRId64 ": could not start a request",
			  j->chat->id);
		ratelimit_unsent(ds->d.rl, j->chat->id, now);
		rows_retry(ds, j, "could not start the request", 0,
			   ST_RETRY_OTHER);
		rows_write(ds, j);
		j->chat->busy = NULL;
		job_free(j);
		return;
	}
	api_begin(ds->d.api, API_SEND);
	ds->inflight++;
}

/* Deliveries for a chat that failed for good are not sent; they are
 * marked failed with the reason, and /retry_now brings them back. */
static void chat_fail_due(struct dispatch *ds, const char *why,
			  struct due_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct delivery *r = &items[i].d;

		r->state = DS_FAILED;
		r->due_at = 0;
		r->updated_at = ds->d.clk->wall;
		str_copy(r->last_error, why, sizeof(r->last_error));
		row_write(ds, r);
		stats_delivery(ds->d.stats, ds->d.clk->now, ST_DELIVERY_FAILED,
			       r->attempts, -1);
	}
}

/* May an alert request go to chat c now? Its lane, the API, and no reply
 * of the outbox in flight to it. */
static int chat_ready(struct dispatch *ds, const struct dest_chat *c)
{
	int64_t now = ds->d.clk->now;

	return ratelimit_when(ds->d.rl, c->id, LANE_ALERT, now) <= now &&
	       api_gate(ds->d.api, API_SEND) <= now &&
	       !outbox_busy(ds->outbox, c->id);
}

static void chat_run(struct dispatch *ds, struct dest_chat *c)
{
	struct due_item items[DUE_BATCH];
	const char *failed = chats_failed(ds->d.chats, c->id);
	struct job *j;
	int n;

	if (c->busy) {
		/* a multi-part alert waiting for its next slot */
		if (!c->busy->in_flight &&
		    ds->d.clk->now >= c->busy->not_before && chat_ready(ds, c))
			job_start(ds, c->busy);
		return;
	}
	/* API down: don't load rows every turn just to put them back. */
	if (failed == NULL && !chat_ready(ds, c))
		return;
	n = store_due(ds->d.store, c->id, ds->d.clk->wall, items, DUE_BATCH);
	if (n == 0)
		c->storm = 0; /* the next storm opens with its own summary */
	if (n <= 0)
		return;
	if (failed != NULL) {
		chat_fail_due(ds, failed, items, (size_t)n);
	} else {
		j = job_for_chat(ds, c, items, (size_t)n);
		if (j != NULL)
			job_start(ds, j);
		else
			log_error("chat %" PRId64 ": cannot build a message "
				  "(out of memory?)", c->id);
	}
	store_due_free(items, (size_t)n);
}

/* --- the loop's entry points --- */

void dispatch_run(struct dispatch *ds)
{
	chats_sync(ds);
	journal_rewrite(ds);
	outbox_run(ds->outbox);
	if (sends_held(ds))
		return;
	for (size_t i = 0; i < ds->nchats; i++)
		chat_run(ds, &ds->chats[i]);
}

static int64_t later64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* When chat c may have work: its lane, then its parked part or the
 * store's next due row. INT64_MAX: none (or only an answer frees it). */
static int64_t chat_next(struct dispatch *ds, const struct dest_chat *c)
{
	const struct clock *clk = ds->d.clk;
	int64_t w, due;

	if (c->busy && c->busy->in_flight)
		return INT64_MAX; /* its request's answer wakes the loop */
	w = ratelimit_when(ds->d.rl, c->id, LANE_ALERT, clk->now);
	if (c->busy)
		return later64(w, c->busy->not_before);
	due = store_next_due(ds->d.store, c->id);
	if (due == 0)
		return INT64_MAX;
	return later64(w, clock_wall_to_mono(clk, due));
}

int64_t dispatch_next(struct dispatch *ds)
{
	int64_t t = outbox_next(ds->outbox);

	if (journal_due(ds) < t)
		t = journal_due(ds);
	if (sends_held(ds))
		return t; /* only the journal's rewrite, and replies */
	chats_sync(ds);
	for (size_t i = 0; i < ds->nchats; i++) {
		int64_t w = chat_next(ds, &ds->chats[i]);

		t = w < t ? w : t;
	}
	if (t == INT64_MAX)
		return t;
	return later64(t, api_gate(ds->d.api, API_SEND));
}

void dispatch_retry_now(struct dispatch *ds)
{
	chats_clear_failed(ds->d.chats);
	api_retry_now(ds->d.api);
}

void dispatch_status(struct dispatch *ds, cJSON *obj)
{
	cJSON *failed = cJSON_AddArrayToObject(obj, "failed_chats");

	for (size_t i = 0; i < ds->nchats; i++) {
		const char *why = chats_failed(ds->d.chats, ds->chats[i].id);
		cJSON *f;

		if (why == NULL)
			continue;
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "chat", (double)ds->chats[i].id);
		cJSON_AddStringToObject(f, "reason", why);
		cJSON_AddItemToArray(failed, f);
	}
	cJSON_AddNumberToObject(obj, "in_flight", dispatch_inflight(ds));
	cJSON_AddNumberToObject(obj, "replies_queued",
				(double)outbox_queued(ds->outbox));
}

/* A message to re-render: a single alert's, or a pack. */
struct refresh_target {
	int64_t chat, msg, alert_id;
	int packed;
};

/* Edits a single alert's message in chat t->chat to show it as it
 * stands (acked: who; late: when it fired). */
static void refresh_single(struct dispatch *ds, const struct delivery *r)
{
	struct format_extra x = { 0 };
	struct alert a;
	char by[64], late[96], *parts[FORMAT_MAX_PARTS];
	int np;

	if (store_alert_get(ds->d.store, r->alert_id, &a) != 1)
		return;
	if (store_ack_get(ds->d.store, r->alert_id, by, sizeof(by),
			  &x.acked_at) == 1)
		x.acked_by = by;
	if (a.status == ALERT_FIRING)
		x.late = late_note(ds, a.received_at, r->sent_at, 1, late,
				   sizeof(late));
	/* each chat's own template */
	np = route_format(ds->d.cfg, &a, &x, r->chat_id, 0, parts,
			  FORMAT_MAX_PARTS);
	if (np > 0)
		outbox_edit(ds->outbox, r->chat_id, r->message_id, parts[0],
			    NULL);
	for (int k = 0; k < np; k++)
		free(parts[k]);
	alert_free(&a);
}

static void refresh_pack(struct dispatch *ds, int64_t chat, int64_t msg)
{
	struct pack_view *v = malloc(sizeof(*v));
	char *html = NULL, *markup = NULL;

	if (v == NULL || pack_view_load(ds, chat, msg, v) != 0) {
		free(v);
		return;
	}
	if (pack_view_render(ds, v, chat, &html, &markup) == 0)
		outbox_edit(ds->outbox, chat, msg, html, markup);
	free(html);
	free(markup);
	pack_view_free(v);
	free(v);
}

void dispatch_refresh_alerts(struct dispatch *ds, const int64_t *ids,
			     size_t n)
{
	struct delivery rows[CONFIG_MAX_CHATS];
	struct refresh_target t[REFRESH_MAX];
	size_t nt = 0, k;
	int nr;

	for (size_t i = 0; i < n; i++) {
		nr = store_deliveries(ds->d.store, ids[i], rows,
				      ARRAY_LEN(rows));
		for (int r = 0; r < nr; r++) {
			if (rows[r].state != DS_SENT ||
			    rows[r].message_id == 0 ||
			    (rows[r].flags & DF_PLAIN))
				continue;
			/* a pack is edited once, however many of its
			 * alerts changed */
			for (k = 0; k < nt; k++)
				if (t[k].chat == rows[r].chat_id &&
				    t[k].msg == rows[r].message_id)
					break;
			if (k < nt)
				continue;
			if (nt == REFRESH_MAX)
				break;
			t[nt].chat = rows[r].chat_id;
			t[nt].msg = rows[r].message_id;
			t[nt].alert_id = ids[i];
			t[nt].packed = (rows[r].flags & DF_PACKED) != 0;
			nt++;
			if (!t[nt - 1].packed)
				refresh_single(ds, &rows[r]);
		}
	}
	for (k = 0; k < nt; k++)
		if (t[k].packed)
			refresh_pack(ds, t[k].chat, t[k].msg);
}

void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id)
{
	dispatch_refresh_alerts(ds, &alert_id, 1);
}
