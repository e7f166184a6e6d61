/*
 * cmd_help.c - /start and /help: what the bot is, and one line per
 * command from the table (so the list cannot drift from what runs).
 */
#include <stdio.h>
#include <string.h>

#include "alerts/format.h"
#include "bot/util.h"
#include "commands/commands.h"

void cmd_help_run(struct cmd_ctx *c)
{
	struct buf b;

	buf_init(&b, CMD_REPLY_MAX);
	buf_printf(&b, "🤖 <b>opsbot</b> delivers this system's alerts to "
		   "Telegram and answers these commands:\n");
	for (size_t i = 0; i < commands_count(); i++) {
		const struct command *cmd = commands_at(i);

		/* viewers are not shown what they cannot run */
		if (cmd->access == CMD_ADMIN && !c->admin)
			continue;
		buf_printf(&b, "/%s", cmd->name);
		if (cmd->usage[0]) {
			buf_printf(&b, " ");
			html_escape(&b, cmd->usage, strlen(cmd->usage), 0);
		}
		buf_printf(&b, " — ");
		html_escape(&b, cmd->help, strlen(cmd->help), 0);
		buf_printf(&b, "\n");
	}
	if (b.data)
		cmd_reply(c, b.data);
	buf_free(&b);
}
