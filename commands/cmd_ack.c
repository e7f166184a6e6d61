/*
 * cmd_ack.c - /ack ID and the Ack / Mute inline buttons that dispatch
 * puts under error and critical alerts. An ack is recorded once (the
 * first one wins) and every message of the alert is edited to show it.
 * Mute is cmd_mute_alert for an hour: an Alertmanager silence for an
 * alert from Alertmanager, else a local mute of the alert's source.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alerts/format.h"
#include "alerts/store.h"
#include "bot/dispatch.h"
#include "bot/util.h"
#include "commands.h"

#define ACK_MUTE_MS 3600000LL /* the Mute button: one hour */

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

void cmd_ack_run(struct cmd_ctx *c)
{
	int64_t id = cmd_parse_id(c->args);
	char by[64];
	struct buf b;
	int rc;

	if (id <= 0) {
		cmd_reply(c, "Usage: /ack ID (the #number in /alerts)");
		return;
	}
	rc = ack_record(c, id, by, sizeof(by));
	if (rc != 0) {
		cmd_reply(c, rc == 1 ? "No such alert." :
			  "⚠️ could not update the store");
		return;
	}
	buf_init(&b, CMD_REPLY_MAX);
	buf_printf(&b, "✔ #%" PRId64 " acked by ", id);
	html_escape(&b, by, strlen(by), 0);
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}

const char *cmd_ack_button(struct cmd_ctx *c, const char *data)
{
	char by[64];
	int64_t id;
	int rc;

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
