/*
 * cmd_ack.c - /ack ID... and the Ack / Mute inline buttons that dispatch
 * puts under error and critical alerts and under packs ("Ack all N",
 * "Mute these sources 1h"). An ack is recorded once (the first one wins)
 * and every message of the alert is edited to show it. Mute is
 * cmd_mute_alert for an hour: an Alertmanager silence for an alert from
 * Alertmanager, else a local mute of the alert's source.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/config.h"
#include "bot/dispatch.h"
#include "bot/util.h"
#include "commands/commands.h"

#define ACK_MUTE_MS 3600000LL /* the Mute button: one hour */
#define ACK_MAX 100           /* alerts one /ack or one pack acks */
#define ACK_PACK_SOURCES 8    /* sources one pack's Mute button mutes */

/* Records the ack and refreshes the alert's messages. 0 acked (now or
 * before; *by says who), 1 no such alert, -1 store error. */
static int ack_record(struct cmd_ctx *c, int64_t id, char *by, size_t bylen)
{
	int64_t at;
	int rc = store_ack(c->deps->store, id, c->user, c->deps->clk->wall);

	if (rc != 0)
		return rc;
	if (store_ack_get(c->deps->store, id, by, bylen, &at) != 1)
		str_copy(by, c->user, bylen);
	dispatch_refresh_alert(c->deps->dispatch, id);
	return 0;
}

/* "12 13 15-18" (spaces or commas) into ids; the count, or -1 when a
 * token is not an id or a range, or there are more than max. */
static int ack_parse_ids(const char *args, int64_t *ids, size_t max)
{
	char tmp[CMD_MAX_ARGS + 1], *save = NULL, *tok, *dash;
	size_t n = 0;

	str_copy(tmp, args, sizeof(tmp));
	for (tok = strtok_r(tmp, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		int64_t lo, hi;

		if ((dash = strchr(tok, '-')) != NULL) {
			*dash = '\0';
			lo = cmd_parse_id(tok);
			hi = cmd_parse_id(dash + 1);
		} else {
			lo = hi = cmd_parse_id(tok);
		}
		if (lo <= 0 || hi < lo || (uint64_t)(hi - lo) >= max - n)
			return -1;
		for (int64_t id = lo; id <= hi; id++)
			ids[n++] = id;
	}
	return n > 0 ? (int)n : -1;
}

/* Acks ids[0..n) as c's user; the ones acked (now or before) are moved
 * to the front. Returns how many, or -1 on a store error. Their
 * messages are re-rendered (each once). */
static int ack_many(struct cmd_ctx *c, int64_t *ids, size_t n)
{
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = store_ack(c->deps->store, ids[i], c->user,
			       c->deps->clk->wall);
		if (rc < 0)
			return -1;
		if (rc == 0)
			ids[k++] = ids[i];
	}
	if (k > 0)
		dispatch_refresh_alerts(c->deps->dispatch, ids, k);
	return (int)k;
}

void cmd_ack_run(struct cmd_ctx *c)
{
	int64_t ids[ACK_MAX];
	int n = ack_parse_ids(c->args, ids, ARRAY_LEN(ids)), k;
	char by[64];
	int64_t at;
	struct buf b;

	if (n <= 0) {
		cmd_reply(c, "Usage: /ack ID... (the #numbers in /alerts; "
			  "ranges too: /ack 12 13 15-18, at most 100)");
		return;
	}
	k = ack_many(c, ids, (size_t)n);
	if (k <= 0) {
		cmd_reply(c, k == 0 ? (n == 1 ? "No such alert." :
			  "No such alerts.") : "⚠️ could not update the store");
		return;
	}
	buf_init(&b, CMD_REPLY_MAX);
	if (k == 1) {
		/* the first ack wins: say whose it is */
		if (store_ack_get(c->deps->store, ids[0], by, sizeof(by),
				  &at) != 1)
			str_copy(by, c->user, sizeof(by));
		buf_printf(&b, "✔ #%" PRId64 " acked by ", ids[0]);
		html_escape(&b, by, strlen(by), 0);
	} else {
		buf_printf(&b, "✔ %d alerts acked:", k);
		for (int i = 0; i < k && i < 20; i++)
			buf_printf(&b, " #%" PRId64, ids[i]);
		if (k > 20)
			buf_printf(&b, " …");
	}
	if (k < n)
		buf_printf(&b, " (%d not found)", n - k);
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}

/* The alerts of the pack that the button "<kind>:<alert id>:<chat>"
 * sits under: that alert's delivery to that chat names the message.
 * Returns how many ids (<= max), 0 when there is no such pack. */
static int ack_pack_ids(struct cmd_ctx *c, const char *ref, int64_t *ids,
			size_t max)
{
	struct delivery dl[CONFIG_MAX_CHATS], *rows;
	const char *colon = strchr(ref, ':');
	char idtxt[24];
	int64_t id, chat = 0;
	int n, k = 0;

	if (colon == NULL || (size_t)(colon - ref) >= sizeof(idtxt))
		return 0;
	memcpy(idtxt, ref, (size_t)(colon - ref));
	idtxt[colon - ref] = '\0';
	id = cmd_parse_id(idtxt);
	if (id <= 0 || sscanf(colon + 1, "%" SCNd64, &chat) != 1 || chat == 0)
		return 0;
	n = store_deliveries(c->deps->store, id, dl, ARRAY_LEN(dl));
	for (int i = 0; i < n; i++) {
		if (dl[i].chat_id != chat || !(dl[i].flags & DF_PACKED) ||
		    dl[i].message_id == 0)
			continue;
		if ((rows = calloc(max, sizeof(*rows))) == NULL)
			return 0;
		k = store_pack_rows(c->deps->store, chat, dl[i].message_id,
				    rows, max);
		for (int r = 0; r < k; r++)
			ids[r] = rows[r].alert_id;
		free(rows);
		break;
	}
	return k > 0 ? k : 0;
}

/* "Mute these sources 1h": one mute per distinct source of the pack
 * (matched literally), in one reply. Alerts without a source are left
 * alone: muting a severity would reach far beyond the pack. */
static const char *ack_pack_mute(struct cmd_ctx *c, const int64_t *ids,
				 size_t n)
{
	char srcs[ACK_PACK_SOURCES][ALERT_MAX_SOURCE + 1];
	struct mute m;
	struct alert a;
	size_t ns = 0, k;
	int muted = 0;

	for (size_t i = 0; i < n; i++) {
		if (store_alert_get(c->deps->store, ids[i], &a) != 1)
			continue;
		if (a.source != NULL && a.source[0] != '\0') {
			for (k = 0; k < ns; k++)
				if (strcmp(srcs[k], a.source) == 0)
					break;
			if (k == ns && ns == ACK_PACK_SOURCES) {
				alert_free(&a);
				return "more than 8 sources: use /mute";
			}
			if (k == ns)
				str_copy(srcs[ns++], a.source, sizeof(srcs[0]));
		}
		alert_free(&a);
	}
	if (ns == 0)
		return "no sources to mute: use /mute";
	for (k = 0; k < ns; k++) {
		memset(&m, 0, sizeof(m));
		m.max_severity = -1;
		if (cmd_glob_literal(m.source, sizeof(m.source), srcs[k]) != 0)
			continue;
		switch (cmd_mute_add(c, &m, ACK_MUTE_MS)) {
		case 0:
			muted++;
			break;
		case 1:
			return muted ? "some muted; too many active mutes" :
			       "too many active mutes: /unmute one first";
		default:
			return "could not store the mute";
		}
	}
	return muted ? "🔕 sources muted for 1h" : "source too long to mute";
}

const char *cmd_ack_button(struct cmd_ctx *c, const char *data)
{
	int64_t ids[ACK_MAX];
	char by[64];
	int64_t id;
	int rc, n;

	if (strncmp(data, "ackp:", 5) == 0) {
		n = ack_pack_ids(c, data + 5, ids, ARRAY_LEN(ids));
		if (n == 0)
			return "no such pack";
		return ack_many(c, ids, (size_t)n) < 0 ?
		       "could not store the ack" : "✔ all acked";
	}
	if (strncmp(data, "mutep:", 6) == 0) {
		n = ack_pack_ids(c, data + 6, ids, ARRAY_LEN(ids));
		return n == 0 ? "no such pack" : ack_pack_mute(c, ids, (size_t)n);
	}
	if (strncmp(data, "ack:", 4) == 0) {
		id = cmd_parse_id(data + 4);
		rc = id > 0 ? ack_record(c, id, by, sizeof(by)) : 1;
		return rc == 0 ? "✔ acked" : rc == 1 ? "no such alert" :
		       "could not store the ack";
	}
	if (strncmp(data, "mute:", 5) == 0) {
		id = cmd_parse_id(data + 5);
		return id > 0 ? cmd_mute_alert(c, id, ACK_MUTE_MS) :
		       "no such alert";
	}
	return "unknown button";
}
