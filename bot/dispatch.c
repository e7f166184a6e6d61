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
 */
#include "dispatch.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "daemon.h"
#include "log.h"

#define MAX_CHATS 512
#define MAX_MIGRATIONS 64
#define MAX_OUTBOX 256
#define DUE_BATCH 200 /* rows looked at per decision */
#define PACK_MIN 3    /* a backlog this deep is packed into one message */
#define REPLY_TRIES 3

enum job_kind { JOB_ALERT, JOB_PACK, JOB_EDIT, JOB_OUT };
enum out_kind { OUT_SEND, OUT_EDIT, OUT_ANSWER };

struct outmsg {
	enum out_kind kind;
	int64_t chat, thread, message_id, reply_to;
	char *text;
	char *markup;
	char cbid[96];
	int tries;
	struct outmsg *next;
};

struct chat {
	int64_t id;
	struct job *busy;    /* the request in flight, or a multi-part job
				waiting for its next slot */
	int failed;          /* permanent: chat not found, blocked, kicked */
	char failed_reason[160];
};

struct job {
	struct dispatch *ds;
	enum job_kind kind;
	struct chat *chat;
	struct delivery *rows;
	int64_t *received;   /* per row: when its alert came in (max_age) */
	size_t nrows;
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
	struct outmsg *out;  /* JOB_OUT */
};

struct dispatch {
	struct daemon *d;
	struct chat chats[MAX_CHATS];
	size_t nchats;
	struct { int64_t from, to; } migr[MAX_MIGRATIONS];
	size_t nmigr;
	struct outmsg *out_head, *out_tail;
	size_t nout;
	int inflight;
	int64_t auth_retry_at;
};

static void job_start(struct dispatch *ds, struct job *j);

/* --- chats and migrations --- */

int64_t dispatch_chat_id(const struct dispatch *ds, int64_t chat)
{
	for (int hops = 0; hops < 4; hops++) {
		size_t i;

		for (i = 0; i < ds->nmigr; i++)
			if (ds->migr[i].from == chat)
				break;
		if (i == ds->nmigr)
			return chat;
		chat = ds->migr[i].to;
	}
	return chat;
}

static struct chat *chat_find(struct dispatch *ds, int64_t id)
{
	for (size_t i = 0; i < ds->nchats; i++)
		if (ds->chats[i].id == id)
			return &ds->chats[i];
	return NULL;
}

/* The chat's entry, created if new (NULL when the table is full). */
static struct chat *chat_get(struct dispatch *ds, int64_t id)
{
	struct chat *c = chat_find(ds, id);

	if (c != NULL)
		return c;
	if (ds->nchats == MAX_CHATS)
		return NULL;
	memset(&ds->chats[ds->nchats], 0, sizeof(ds->chats[0]));
	ds->chats[ds->nchats].id = id;
	return &ds->chats[ds->nchats++];
}

static void migrations_load(struct dispatch *ds, int64_t chat)
{
	char key[64], val[64];

	if (dispatch_chat_id(ds, chat) != chat)
		return; /* known already */
	snprintf(key, sizeof(key), "migrate:%" PRId64, chat);
	if (store_kv_get(ds->d->store, key, val, sizeof(val)) == 1 &&
	    ds->nmigr < MAX_MIGRATIONS) {
		ds->migr[ds->nmigr].from = chat;
		ds->migr[ds->nmigr].to = strtoll(val, NULL, 10);
		ds->nmigr++;
	}
}

static void chats_load(struct dispatch *ds)
{
	const struct config *c = &ds->d->cfg;
	int64_t due[64];
	int n;

	for (size_t i = 0; i < c->nchats; i++)
		migrations_load(ds, c->chats[i]);
	for (size_t r = 0; r < c->nroutes; r++)
		for (size_t i = 0; i < c->routes[r].nchats; i++)
			migrations_load(ds, c->routes[r].chats[i]);
	for (size_t i = 0; i < c->nchats; i++)
		chat_get(ds, dispatch_chat_id(ds, c->chats[i]));
	for (size_t r = 0; r < c->nroutes; r++)
		for (size_t i = 0; i < c->routes[r].nchats; i++)
			chat_get(ds, dispatch_chat_id(ds, c->routes[r].chats[i]));
	/* Chats no longer configured still get what was stored for them. */
	n = store_due_chats(ds->d->store, due, ARRAY_LEN(due));
	for (int i = 0; i < n; i++)
		chat_get(ds, due[i]);
}

void dispatch_reload(struct dispatch *ds)
{
	chats_load(ds);
}

struct dispatch *dispatch_new(struct daemon *d)
{
	struct dispatch *ds = calloc(1, sizeof(*ds));

	if (ds == NULL)
		return NULL;
	ds->d = d;
	chats_load(ds);
	return ds;
}

static void out_free(struct outmsg *o)
{
	if (o == NULL)
		return;
	free(o->text);
	free(o->markup);
	free(o);
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->nparts; i++)
		free(j->parts[i]);
	free(j->rows);
	free(j->received);
	free(j->markup);
	out_free(j->out);
	free(j);
}

void dispatch_free(struct dispatch *ds)
{
	if (ds == NULL)
		return;
	/* In-flight jobs belong to tg until it is freed; a job parked
	 * between parts is ours. */
	for (size_t i = 0; i < ds->nchats; i++)
		if (ds->chats[i].busy && !ds->chats[i].busy->in_flight)
			job_free(ds->chats[i].busy);
	while (ds->out_head) {
		struct outmsg *o = ds->out_head;

		ds->out_head = o->next;
		out_free(o);
	}
	free(ds);
}

int dispatch_inflight(const struct dispatch *ds)
{
	return ds->inflight;
}

/* --- recording outcomes --- */

static void rows_write(struct dispatch *ds, struct job *j)
{
	for (size_t i = 0; i < j->nrows; i++) {
		j->rows[i].updated_at = ds->d->wall;
		if (store_delivery_update(ds->d->store, &j->rows[i]) != 0)
			log_error("store: %s", store_errmsg(ds->d->store));
	}
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
		r->sent_at = ds->d->wall;
		r->attempts++;
		r->last_error[0] = '\0';
		if (j->kind == JOB_PACK)
			r->flags |= DF_PACKED;
	}
	ds->d->ctr.sent++;
}

/* Transient failure: back off, or give up once the alert is too old. */
static void rows_retry(struct dispatch *ds, struct job *j, const char *err,
		       int64_t min_delay)
{
	struct daemon *d = ds->d;

	for (size_t i = 0; i < j->nrows; i++) {
		struct delivery *r = &j->rows[i];
		int64_t delay = backoff_delay(r->attempts,
					      (int64_t)(d->cfg.retry_base * 1000),
					      (int64_t)(d->cfg.retry_cap * 1000),
					      &d->rng);

		r->attempts++;
		str_copy(r->last_error, err, sizeof(r->last_error));
		if (delay < min_delay)
			delay = min_delay;
		if (d->wall - j->received[i] > (int64_t)d->cfg.max_age * 1000) {
			r->state = DS_FAILED;
			r->due_at = 0;
			snprintf(r->last_error, sizeof(r->last_error),
				 "gave up after %d attempts: %s", r->attempts,
				 err);
		} else {
			r->state = DS_RETRYING;
			r->due_at = d->wall + delay;
		}
	}
}

static void note_error(struct daemon *d, const struct tg_reply *r)
{
	d->ctr.last_err_wall = d->wall;
	snprintf(d->ctr.last_err, sizeof(d->ctr.last_err), "%s: %s",
		 tg_outcome_name(r->outcome), r->description);
}

static void outage_summary(struct dispatch *ds)
{
	struct daemon *d = ds->d;
	struct store_stats st;
	char from[16], to[16], dur[32], html[512];
	int64_t backlog = 0;

	fmt_clock(from, sizeof(from), d->wall - (d->now - d->breaker.down_since),
		  "%H:%M:%S");
	fmt_clock(to, sizeof(to), d->wall, "%H:%M:%S");
	fmt_duration(dur, sizeof(dur), d->now - d->breaker.down_since);
	if (store_stats(d->store, d->wall, &st) == 0)
		backlog = st.by_state[DS_PENDING] + st.by_state[DS_RETRYING];
	snprintf(html, sizeof(html),
		 "📶 Telegram was unreachable from %s to %s (%s); %" PRId64
		 " alert(s) delayed, now being delivered.", from, to, dur,
		 backlog);
	log_info("Telegram reachable again after %s; %" PRId64
		 " deliveries delayed", dur, backlog);
	dispatch_notify(ds, html);
}

/* Bookkeeping common to every answer: breaker, counters, 401, 429, and
 * the rate limiter's view of what Telegram actually received. */
static void reply_account(struct dispatch *ds, const struct job *j,
			  const struct tg_reply *r)
{
	struct daemon *d = ds->d;
	struct chat *c = j->chat;

	if (r->outcome == TG_TRANSIENT) {
		d->ctr.transient++;
		note_error(d, r);
		/* No HTTP answer at all: it did not count against the limits. */
		if (r->http_status == 0)
			ratelimit_unsent(d->rl, c ? c->id : 0, j->sent_at);
		if (breaker_failure(&d->breaker, d->now, &d->rng) &&
		    d->breaker.opens == 1)
			log_warnx("Telegram API unreachable (%s); sending "
				  "paused, probing with backoff",
				  r->description);
		return;
	}
	if (breaker_success(&d->breaker, d->now))
		outage_summary(ds);
	if (r->outcome == TG_OK || r->outcome == TG_NOT_MODIFIED) {
		d->ctr.last_ok_wall = d->wall;
		return;
	}
	note_error(d, r);
	if (r->outcome == TG_RATE_LIMITED) {
		int64_t secs = r->retry_after;

		d->ctr.rate_limited++;
		if (secs > d->cfg.retry_after_cap) {
			char html[256];

			log_warnx("Telegram asked to wait %" PRId64 " s for chat "
				  "%" PRId64 "; obeying only %d s (limits."
				  "retry_after_cap)", secs, c ? c->id : 0,
				  d->cfg.retry_after_cap);
			snprintf(html, sizeof(html), "⏳ Telegram asked opsbot to "
				 "wait %" PRId64 " s before sending to <code>%"
				 PRId64 "</code>; waiting %d s "
				 "(limits.retry_after_cap).", secs,
				 c ? c->id : 0, d->cfg.retry_after_cap);
			dispatch_notify(ds, html);
			secs = d->cfg.retry_after_cap;
		} else {
			log_warnx("429 from Telegram for chat %" PRId64
				  ": waiting %" PRId64 " s", c ? c->id : 0,
				  secs);
		}
		ratelimit_block(d->rl, c ? c->id : 0, d->now + secs * 1000);
	} else if (r->outcome == TG_UNAUTHORIZED && !d->auth_failed) {
		d->auth_failed = 1;
		ds->auth_retry_at = d->now + 300000;
		log_error("Telegram says 401 Unauthorized: the bot token is "
			  "wrong or revoked. Sending is paused (nothing is "
			  "lost); fix the token and restart opsbot.");
	}
}

static void chat_failed(struct dispatch *ds, struct chat *c, const char *why)
{
	char html[400];

	if (c->failed)
		return;
	c->failed = 1;
	str_copy(c->failed_reason, why, sizeof(c->failed_reason));
	log_error("chat %" PRId64 " failed permanently: %s; its alerts are "
		  "kept (/retry_now tries again)", c->id, why);
	snprintf(html, sizeof(html),
		 "⚠️ Chat <code>%" PRId64 "</code> cannot receive alerts: %s. "
		 "Fix it, then /retry_now.", c->id, why);
	dispatch_notify(ds, html);
}

static void chat_migrate(struct dispatch *ds, struct chat *c, int64_t to)
{
	struct daemon *d = ds->d;
	char key[64], val[64];

	log_warnx("group %" PRId64 " became supergroup %" PRId64 "; alerts "
		  "go there now (update telegram.chats in %s)", c->id, to,
		  d->cfg.path);
	if (store_migrate_chat(d->store, c->id, to) != 0)
		log_error("store: %s", store_errmsg(d->store));
	snprintf(key, sizeof(key), "migrate:%" PRId64, c->id);
	snprintf(val, sizeof(val), "%" PRId64, to);
	store_kv_set(d->store, key, val);
	if (ds->nmigr < MAX_MIGRATIONS) {
		ds->migr[ds->nmigr].from = c->id;
		ds->migr[ds->nmigr].to = to;
		ds->nmigr++;
	}
	ratelimit_migrate(d->rl, c->id, to);
	chat_get(ds, to);
}

/* A request that failed permanently for its payload: try plain text
 * once (our HTML or Telegram's parser is at fault), then give up. */
static void rows_payload_failed(struct job *j, const char *err)
{
	for (size_t i = 0; i < j->nrows; i++) {
		struct delivery *r = &j->rows[i];

		r->attempts++;
		str_copy(r->last_error, err, sizeof(r->last_error));
		if (r->flags & DF_PLAIN) {
			r->state = DS_FAILED;
			r->due_at = 0;
		} else {
			r->flags |= DF_PLAIN;
			r->state = DS_PENDING;
			r->due_at = j->ds->d->wall;
		}
	}
}

static void alert_outcome(struct dispatch *ds, struct job *j,
			  const struct tg_reply *r)
{
	struct daemon *d = ds->d;
	struct chat *c = j->chat;

	switch (r->outcome) {
	case TG_OK:
	case TG_NOT_MODIFIED:
		if (j->kind == JOB_EDIT) {
			/* Original shows "resolved"; the note follows. */
			rows_set(j, DS_PENDING, d->wall, NULL, DF_EDITED);
			break;
		}
		if (j->part == 0)
			j->first_msg = r->message_id;
		if (++j->part < j->nparts)
			return; /* the next part waits for its slot */
		rows_sent(ds, j, j->first_msg);
		break;
	case TG_MSG_GONE:
		/* The original to edit is gone: just send the resolution. */
		rows_set(j, DS_PENDING, d->wall, r->description, DF_EDITED);
		break;
	case TG_RATE_LIMITED:
		rows_retry(ds, j, r->description,
			   (int64_t)(r->retry_after < d->cfg.retry_after_cap ?
				     r->retry_after : d->cfg.retry_after_cap) * 1000);
		break;
	case TG_BAD_HTML:
	case TG_TOO_LONG:
	case TG_BAD_REQUEST:
		log_warnx("chat %" PRId64 ": Telegram refused a message (%s); "
			  "%s", c->id, r->description,
			  j->rows[0].flags & DF_PLAIN ? "giving up" :
			  "resending as plain text");
		rows_payload_failed(j, r->description);
		break;
	case TG_CHAT_GONE:
		chat_failed(ds, c, r->description);
		rows_set(j, DS_FAILED, 0, r->description, 0);
		break;
	case TG_MIGRATED:
		rows_set(j, DS_PENDING, d->wall, NULL, 0);
		rows_write(ds, j);
		chat_migrate(ds, c, r->migrate_to);
		return;
	case TG_THREAD_GONE:
		rows_set(j, DS_PENDING, d->wall, r->description, DF_NO_THREAD);
		break;
	case TG_UNAUTHORIZED:
		rows_set(j, DS_PENDING, d->wall, r->description, 0);
		break;
	default: /* transient, conflicts */
		rows_retry(ds, j, r->description, 0);
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
	struct daemon *d = ds->d;

	if (j->part == 0 || j->kind == JOB_EDIT ||
	    (r->outcome != TG_TRANSIENT && r->outcome != TG_RATE_LIMITED))
		return 0;
	j->not_before = d->now;
	if (r->outcome == TG_TRANSIENT)
		j->not_before += backoff_delay(j->part_tries,
					       (int64_t)(d->cfg.retry_base * 1000),
					       (int64_t)(d->cfg.retry_cap * 1000),
					       &d->rng);
	j->part_tries++;
	return 1;
}

static void on_alert_done(void *arg, const struct tg_reply *r)
{
	struct job *j = arg;
	struct dispatch *ds = j->ds;

	ds->inflight--;
	j->in_flight = 0;
	reply_account(ds, j, r);
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

static int alert_silent(const struct daemon *d, const struct alert *a)
{
	return a->status == ALERT_RESOLVED ||
	       (int)a->severity > d->cfg.notify_severity;
}

static char *alert_buttons(const struct daemon *d, const struct alert *a)
{
	char ack[32], mute[32];
	const char *labels[2] = { "✅ Ack", "🔕 Mute 1h" };
	const char *data[2] = { ack, mute };

	if (!d->cfg.buttons || a->status != ALERT_FIRING ||
	    a->severity > SEV_ERROR)
		return NULL;
	snprintf(ack, sizeof(ack), "ack:%" PRId64, a->id);
	snprintf(mute, sizeof(mute), "mute:%" PRId64, a->id);
	return tg_markup_buttons(labels, data, 2);
}

static struct job *job_new(struct dispatch *ds, enum job_kind kind,
			   struct chat *c, const struct due_item *items,
			   size_t n)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->ds = ds;
	j->kind = kind;
	j->chat = c;
	j->html = 1;
	j->rows = calloc(n, sizeof(*j->rows));
	j->received = calloc(n, sizeof(*j->received));
	if (j->rows == NULL || j->received == NULL) {
		job_free(j);
		return NULL;
	}
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
		n = (it->d.flags & DF_PLAIN) ?
		    format_alert_plain(a, &x, j->parts, FORMAT_MAX_PARTS) :
		    format_alert(a, &x, j->parts, FORMAT_MAX_PARTS);
		if (n < 1)
			return -1;
		j->nparts = (size_t)n;
		j->markup = alert_buttons(ds->d, a);
		j->reply_to = reply_to;
	}
	j->html = !(it->d.flags & DF_PLAIN);
	j->silent = alert_silent(ds->d, a);
	return 0;
}

/* A resolved alert whose original was sent on its own: first edit the
 * original to show it resolved, then (DF_EDITED) reply under it. If
 * Telegram refused the edit's HTML (DF_PLAIN), the same bytes are not
 * tried again: the resolution goes as a plain reply. */
static struct job *job_for_resolved(struct dispatch *ds, struct chat *c,
				    const struct due_item *it,
				    const struct delivery *orig)
{
	struct alert oa;
	struct format_extra x = { .resolved = 1 };
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
	if (store_alert_get(ds->d->store, orig->alert_id, &oa) != 1)
		goto fail;
	x.resolved_at = it->a.received_at;
	n = format_alert(&oa, &x, parts, FORMAT_MAX_PARTS);
	alert_free(&oa);
	if (n < 1)
		goto fail;
	j->parts[0] = parts[0]; /* the first message carries the header */
	for (int i = 1; i < n; i++)
		free(parts[i]);
	j->nparts = 1;
	j->reply_to = orig->message_id; /* for the edit: which message */
	return j;
fail:
	job_free(j);
	return NULL;
}

static int packable(const struct dispatch *ds, const struct due_item *it)
{
	struct delivery orig;

	if (it->d.flags & DF_PLAIN)
		return 0;
	if (it->a.status == ALERT_RESOLVED && it->a.key &&
	    !(it->d.flags & DF_EDITED) &&
	    store_original_delivery(ds->d->store, it->a.key, it->d.chat_id,
				    it->a.id, &orig) == 1 &&
	    !(orig.flags & DF_PACKED))
		return 0;
	return 1;
}

static struct job *job_for_pack(struct dispatch *ds, struct chat *c,
				struct due_item *items, size_t n)
{
	const struct alert *list[DUE_BATCH];
	struct due_item picked[DUE_BATCH];
	size_t k = 0, packed;
	struct job *j;
	char *html = NULL;

	for (size_t i = 0; i < n && k < DUE_BATCH; i++)
		if (items[i].d.thread_id == items[0].d.thread_id &&
		    (items[i].d.flags & DF_NO_THREAD) ==
		    (items[0].d.flags & DF_NO_THREAD) &&
		    packable(ds, &items[i])) {
			picked[k] = items[i];
			list[k] = &items[i].a;
			k++;
		}
	if (k < PACK_MIN)
		return NULL;
	packed = format_pack(list, k, &html);
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
	j->silent = 1;
	for (size_t i = 0; i < packed; i++)
		if (!alert_silent(ds->d, list[i]))
			j->silent = 0; /* ring if any of them would */
	return j;
}

static struct job *job_for_chat(struct dispatch *ds, struct chat *c,
				struct due_item *items, size_t n)
{
	struct due_item *it = &items[0];
	struct delivery orig;
	struct job *j;

	if (ds->d->cfg.pack && n >= PACK_MIN &&
	    (j = job_for_pack(ds, c, items, n)) != NULL)
		return j;
	if (it->a.status == ALERT_RESOLVED && it->a.key &&
	    store_original_delivery(ds->d->store, it->a.key, c->id, it->a.id,
				    &orig) == 1 && !(orig.flags & DF_PACKED))
		return job_for_resolved(ds, c, it, &orig);
	j = job_new(ds, JOB_ALERT, c, it, 1);
	if (j != NULL && job_format_single(ds, j, it, 0) != 0) {
		job_free(j);
		j = NULL;
	}
	return j;
}

static char *job_body(const struct dispatch *ds, const struct job *j)
{
	const struct delivery *r = &j->rows[0];
	int64_t thread = (r->flags & DF_NO_THREAD) ? 0 : r->thread_id;
	int last = j->part + 1 == j->nparts;
	int no_preview = !ds->d->cfg.link_preview;

	if (j->kind == JOB_EDIT)
		return tg_body_edit(j->chat->id, j->reply_to, j->parts[0],
				    j->html, no_preview, NULL);
	return tg_body_send(j->chat->id, thread, j->parts[j->part], j->html,
			    j->silent, no_preview,
			    j->part == 0 ? j->reply_to : 0,
			    last ? j->markup : NULL);
}

static void job_start(struct dispatch *ds, struct job *j)
{
	struct daemon *d = ds->d;
	char *body = job_body(ds, j);

	if (j->part == 0) {
		rows_set(j, DS_SENDING, 0, NULL, 0);
		rows_write(ds, j);
	}
	ratelimit_sent(d->rl, j->chat->id, d->now);
	j->sent_at = d->now;
	j->chat->busy = j;
	j->in_flight = 1;
	if (tg_call(d->tg, j->kind == JOB_EDIT ? "editMessageText" :
		    "sendMessage", body, 0, on_alert_done, j) != 0) {
		/* Out of memory here, not Telegram's fault: retry later
		 * without telling the breaker anything. */
		log_error("chat %" PRId64 ": could not start a request",
			  j->chat->id);
		ratelimit_unsent(d->rl, j->chat->id, d->now);
		rows_retry(ds, j, "could not start the request", 0);
		rows_write(ds, j);
		j->chat->busy = NULL;
		job_free(j);
		return;
	}
	ds->inflight++;
}

/* Deliveries for a chat that failed for good are not sent; they are
 * marked failed with the reason, and /retry_now brings them back. */
static void chat_fail_due(struct dispatch *ds, struct chat *c,
			  struct due_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct delivery *r = &items[i].d;

		r->state = DS_FAILED;
		r->due_at = 0;
		r->updated_at = ds->d->wall;
		str_copy(r->last_error, c->failed_reason, sizeof(r->last_error));
		store_delivery_update(ds->d->store, r);
	}
}

static void chat_run(struct dispatch *ds, struct chat *c)
{
	struct daemon *d = ds->d;
	struct due_item items[DUE_BATCH];
	struct job *j;
	int n;

	if (c->busy) {
		/* a multi-part alert waiting for its next slot */
		if (!c->busy->in_flight && d->now >= c->busy->not_before &&
		    ratelimit_when(d->rl, c->id, LANE_ALERT, d->now) <= d->now &&
		    breaker_allow(&d->breaker, d->now))
			job_start(ds, c->busy);
		return;
	}
	if (ratelimit_when(d->rl, c->id, LANE_ALERT, d->now) > d->now)
		return;
	/* API down: don't load rows every turn just to put them back. */
	if (!c->failed && breaker_next(&d->breaker, d->now) > d->now)
		return;
	n = store_due(d->store, c->id, d->wall, items, DUE_BATCH);
	if (n <= 0)
		return;
	if (c->failed) {
		chat_fail_due(ds, c, items, (size_t)n);
	} else if (breaker_allow(&d->breaker, d->now)) {
		j = job_for_chat(ds, c, items, (size_t)n);
		if (j != NULL)
			job_start(ds, j);
		else
			log_error("chat %" PRId64 ": cannot build a message "
				  "(out of memory?)", c->id);
	}
	store_due_free(items, (size_t)n);
}

/* --- operator messages --- */

static int out_push(struct dispatch *ds, struct outmsg *o)
{
	if (ds->nout >= MAX_OUTBOX) {
		log_warnx("reply queue full; dropping a reply to chat %" PRId64,
			  o->chat);
		out_free(o);
		return -1;
	}
	if (ds->out_tail)
		ds->out_tail->next = o;
	else
		ds->out_head = o;
	ds->out_tail = o;
	ds->nout++;
	return 0;
}

static struct outmsg *out_new(enum out_kind kind, int64_t chat,
			      const char *text, const char *markup)
{
	struct outmsg *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->kind = kind;
	o->chat = chat;
	o->text = text ? strdup(text) : NULL;
	o->markup = markup ? strdup(markup) : NULL;
	if ((text && o->text == NULL) || (markup && o->markup == NULL)) {
		out_free(o);
		return NULL;
	}
	return o;
}

int dispatch_reply(struct dispatch *ds, int64_t chat, int64_t thread,
		   const char *html, const char *markup, int64_t reply_to)
{
	struct outmsg *o = out_new(OUT_SEND, chat, html, markup);

	if (o == NULL)
		return -1;
	o->thread = thread;
	o->reply_to = reply_to;
	return out_push(ds, o);
}

int dispatch_edit(struct dispatch *ds, int64_t chat, int64_t message_id,
		  const char *html, const char *markup)
{
	struct outmsg *o = out_new(OUT_EDIT, chat, html, markup);

	if (o == NULL)
		return -1;
	o->message_id = message_id;
	return out_push(ds, o);
}

int dispatch_answer_callback(struct dispatch *ds, const char *callback_id,
			     const char *text)
{
	struct outmsg *o = out_new(OUT_ANSWER, 0, text, NULL);

	if (o == NULL)
		return -1;
	str_copy(o->cbid, callback_id, sizeof(o->cbid));
	return out_push(ds, o);
}

void dispatch_notify(struct dispatch *ds, const char *html)
{
	const struct config *c = &ds->d->cfg;

	for (size_t i = 0; i < c->nchats; i++) {
		int64_t id = dispatch_chat_id(ds, c->chats[i]);
		struct chat *ch = chat_get(ds, id);

		if (ch && !ch->failed)
			dispatch_reply(ds, id, 0, html, NULL, 0);
	}
}

static void on_out_done(void *arg, const struct tg_reply *r)
{
	struct job *j = arg;
	struct dispatch *ds = j->ds;
	struct outmsg *o = j->out;
	struct chat *c = o->kind == OUT_ANSWER ? NULL : chat_find(ds, o->chat);

	ds->inflight--;
	if (c && c->busy == j)
		c->busy = NULL;
	reply_account(ds, j, r);
	if ((r->outcome == TG_TRANSIENT || r->outcome == TG_RATE_LIMITED) &&
	    ++o->tries < REPLY_TRIES && o->kind != OUT_ANSWER) {
		j->out = NULL;
		o->next = ds->out_head; /* first again, once the chat allows */
		ds->out_head = o;
		if (ds->out_tail == NULL)
			ds->out_tail = o;
		ds->nout++;
	} else if (r->outcome != TG_OK && r->outcome != TG_NOT_MODIFIED) {
		log_warnx("reply to chat %" PRId64 " not delivered: %s",
			  o->chat, r->description);
	}
	job_free(j);
}

static char *out_body(const struct dispatch *ds, const struct outmsg *o)
{
	switch (o->kind) {
	case OUT_SEND:
		return tg_body_send(o->chat, o->thread, o->text, 1, 0, 1,
				    o->reply_to, o->markup);
	case OUT_EDIT:
		return tg_body_edit(o->chat, o->message_id, o->text, 1, 1,
				    o->markup);
	case OUT_ANSWER:
		return tg_body_answer_callback(o->cbid, o->text);
	}
	return NULL;
}

static int out_ready(struct dispatch *ds, const struct outmsg *o)
{
	struct daemon *d = ds->d;
	struct chat *c;

	if (o->kind == OUT_ANSWER) /* not a message: only a global 429 */
		return ratelimit_blocked_until(d->rl, 0) <= d->now;
	c = chat_find(ds, o->chat);
	return (c == NULL || !c->busy) &&
	       ratelimit_when(d->rl, o->chat, LANE_REPLY, d->now) <= d->now;
}

static void out_start(struct dispatch *ds, struct outmsg *o)
{
	struct daemon *d = ds->d;
	struct job *j = calloc(1, sizeof(*j));
	static const char *const methods[] = { "sendMessage",
					       "editMessageText",
					       "answerCallbackQuery" };
	char *body;

	if (j == NULL) {
		out_free(o);
		return;
	}
	j->ds = ds;
	j->kind = JOB_OUT;
	j->out = o;
	j->in_flight = 1;
	body = out_body(ds, o);
	if (o->kind != OUT_ANSWER) {
		j->chat = chat_get(ds, o->chat);
		if (j->chat)
			j->chat->busy = j;
		ratelimit_sent(d->rl, o->chat, d->now);
		j->sent_at = d->now;
	}
	if (tg_call(d->tg, methods[o->kind], body, 0, on_out_done, j) != 0) {
		/* out of memory: the reply is lost, Telegram is not at fault */
		log_error("could not start a reply to chat %" PRId64, o->chat);
		if (j->chat) {
			j->chat->busy = NULL;
			ratelimit_unsent(d->rl, o->chat, d->now);
		}
		job_free(j);
		return;
	}
	ds->inflight++;
}

static void outbox_run(struct dispatch *ds)
{
	struct outmsg **pp = &ds->out_head, *prev = NULL;

	while (*pp) {
		struct outmsg *o = *pp;

		if (!out_ready(ds, o) || !breaker_allow(&ds->d->breaker,
							ds->d->now)) {
			prev = o;
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		if (ds->out_tail == o)
			ds->out_tail = prev;
		ds->nout--;
		o->next = NULL;
		out_start(ds, o);
	}
}

/* --- the loop's entry points --- */

void dispatch_run(struct dispatch *ds)
{
	struct daemon *d = ds->d;

	if (d->auth_failed) {
		if (d->now < ds->auth_retry_at)
			return;
		/* try again now and then: the token may have been fixed */
		d->auth_failed = 0;
	}
	outbox_run(ds);
	for (size_t i = 0; i < ds->nchats; i++)
		chat_run(ds, &ds->chats[i]);
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

int64_t dispatch_next(struct dispatch *ds)
{
	struct daemon *d = ds->d;
	int64_t t = INT64_MAX, gate;

	if (d->auth_failed)
		return ds->auth_retry_at;
	gate = breaker_next(&d->breaker, d->now);
	for (struct outmsg *o = ds->out_head; o; o = o->next) {
		struct chat *c = o->kind == OUT_ANSWER ? NULL :
				 chat_find(ds, o->chat);
		int64_t w;

		if (c && c->busy)
			continue; /* its request's answer wakes the loop */
		w = o->kind != OUT_ANSWER ?
		    ratelimit_when(d->rl, o->chat, LANE_REPLY, d->now) :
		    ratelimit_blocked_until(d->rl, 0);
		t = w < t ? w : t;
	}
	for (size_t i = 0; i < ds->nchats; i++) {
		struct chat *c = &ds->chats[i];
		int64_t due, w;

		if (c->busy && c->busy->in_flight)
			continue;
		w = ratelimit_when(d->rl, c->id, LANE_ALERT, d->now);
		if (c->busy)
			w = max64(w, c->busy->not_before);
		else {
			due = store_next_due(d->store, c->id);
			if (due == 0)
				continue;
			w = max64(w, daemon_wall_to_mono(d, due));
		}
		t = w < t ? w : t;
	}
	return t == INT64_MAX ? t : max64(t, gate);
}

void dispatch_retry_now(struct dispatch *ds)
{
	for (size_t i = 0; i < ds->nchats; i++)
		ds->chats[i].failed = 0;
	breaker_probe_now(&ds->d->breaker, ds->d->now);
	ds->d->auth_failed = 0;
}

void dispatch_status(struct dispatch *ds, cJSON *obj)
{
	cJSON *failed = cJSON_AddArrayToObject(obj, "failed_chats");

	for (size_t i = 0; i < ds->nchats; i++) {
		cJSON *f;

		if (!ds->chats[i].failed)
			continue;
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "chat", (double)ds->chats[i].id);
		cJSON_AddStringToObject(f, "reason", ds->chats[i].failed_reason);
		cJSON_AddItemToArray(failed, f);
	}
	cJSON_AddNumberToObject(obj, "in_flight", ds->inflight);
	cJSON_AddNumberToObject(obj, "replies_queued", (double)ds->nout);
}

void dispatch_refresh_alert(struct dispatch *ds, int64_t alert_id)
{
	struct daemon *d = ds->d;
	struct delivery rows[CONFIG_MAX_CHATS];
	struct format_extra x = { 0 };
	struct alert a;
	char by[64], *parts[FORMAT_MAX_PARTS];
	int n, np;

	if (store_alert_get(d->store, alert_id, &a) != 1)
		return;
	if (store_ack_get(d->store, alert_id, by, sizeof(by), &x.acked_at) == 1)
		x.acked_by = by;
	np = format_alert(&a, &x, parts, FORMAT_MAX_PARTS);
	n = store_deliveries(d->store, alert_id, rows, ARRAY_LEN(rows));
	for (int i = 0; i < n && np > 0; i++)
		if (rows[i].state == DS_SENT && rows[i].message_id &&
		    !(rows[i].flags & DF_PACKED) && !(rows[i].flags & DF_PLAIN))
			dispatch_edit(ds, rows[i].chat_id, rows[i].message_id,
				      parts[0], NULL);
	for (int i = 0; i < np; i++)
		free(parts[i]);
	alert_free(&a);
}
