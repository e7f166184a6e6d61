/*
 * cmd_retry.c - /retry_now [ID] (also typed /retry-now): failed and
 * waiting deliveries are due again at once, failed destinations are
 * tried again and an open circuit breaker probes now. The rate limits
 * still apply: this never floods a chat.
 */
#include <stdio.h>

#include "alerts/store.h"
#include "bot/dispatch.h"
#include "commands/commands.h"

void cmd_retry_run(struct cmd_ctx *c)
{
	int64_t id = 0;
	char html[160];
	int n;

	if (c->args[0] && (id = cmd_parse_id(c->args)) <= 0) {
		cmd_reply(c, "Usage: /retry_now [ID]");
		return;
	}
	n = store_retry_now(c->deps->store, id, c->deps->clk->wall);
	if (n < 0) {
		cmd_reply(c, "⚠️ could not update the store");
		return;
	}
	dispatch_retry_now(c->deps->dispatch);
	snprintf(html, sizeof(html), "🔁 %d deliver%s rescheduled%s", n,
		 n == 1 ? "y" : "ies",
		 n ? " (rate limits still apply)" : "");
	cmd_reply(c, html);
}
