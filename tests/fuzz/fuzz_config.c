/*
 * fuzz_config.c - libFuzzer target for the configuration loader
 * (bot/config.c): config_load_string() on arbitrary text. It must never
 * crash; a load that succeeds must give a configuration the daemon can
 * run with (at least one chat, a socket path, a token, every value within
 * the range config.c's key table promises); a load that fails must say
 * why in a terminated message.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/tz.c"
#include "bot/config.c"
#include "bot/util.c"
#include "bot/url.c"
#include "alerts/severity.c"
#include "alerts/template.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/alert.c"
#include "alerts/tgvalidate.c"
#include "bot/utf8.c"
#include "tests/fuzz/fuzz.h"

/* libconfig 1.5's parser leaks a string token when a syntax error follows
 * it (see tests/unit/test_config.c): its bug, not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* ... and not worth a report after every input. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

#define TERMINATED(a) (strnlen((a), sizeof(a)) < sizeof(a))
#define IN(v, lo, hi) ((v) >= (lo) && (v) <= (hi))

static void check_ids(const int64_t *ids, size_t n, size_t max,
		      int positive, const char *what)
{
	size_t i, j;

	FUZZ_CHECK(n <= max, "%s: %zu entries", what, n);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(ids[i] != 0, "%s: id 0", what);
		FUZZ_CHECK(!positive || ids[i] > 0, "%s: id %lld", what,
			   (long long)ids[i]);
		if (positive)
			continue;
		for (j = i + 1; j < n; j++)
			FUZZ_CHECK(ids[i] != ids[j], "%s: %lld twice", what,
				   (long long)ids[i]);
	}
}

static void check_ok(const struct config *c)
{
	size_t i;

	FUZZ_CHECK(c->nchats >= 1, "no chat");
	check_ids(c->chats, c->nchats, CONFIG_MAX_CHATS, 0, "chats");
	check_ids(c->admins, c->nadmins, CONFIG_MAX_USERS, 1, "admins");
	check_ids(c->viewers, c->nviewers, CONFIG_MAX_USERS, 1, "viewers");
	FUZZ_CHECK(c->nallowed_uids <= CONFIG_MAX_USERS, "allowed_uids");

	FUZZ_CHECK(TERMINATED(c->path) && TERMINATED(c->api_url) &&
		   TERMINATED(c->token) && TERMINATED(c->token_source) &&
		   TERMINATED(c->socket_path) && TERMINATED(c->socket_group) &&
		   TERMINATED(c->store_path), "string not terminated");
	FUZZ_CHECK(c->socket_path[0] != '\0', "empty socket path");
	FUZZ_CHECK(c->store_path[0] != '\0', "empty store path");
	FUZZ_CHECK(strncasecmp(c->api_url, "http://", 7) == 0 ||
		   strncasecmp(c->api_url, "https://", 8) == 0,
		   "api_url %s", c->api_url);
	FUZZ_CHECK(c->token[0] != '\0' && c->token_source[0] != '\0',
		   "no token");

	FUZZ_CHECK(IN(c->poll_timeout, 0, 600), "poll_timeout");
	FUZZ_CHECK(IN(c->connect_timeout, 1, 300), "connect_timeout");
	FUZZ_CHECK(IN(c->request_timeout, 1, 600), "request_timeout");
	FUZZ_CHECK(c->socket_mode <= 0777, "socket_mode %o",
		   (unsigned)c->socket_mode);
	FUZZ_CHECK(IN(c->max_clients, 1, 65536), "max_clients");
	FUZZ_CHECK(IN(c->max_line, 1024, 16777216), "max_line");
	FUZZ_CHECK(IN(c->max_output, 4096, 1073741824), "max_output");
	FUZZ_CHECK(IN(c->idle_timeout, 1, 86400), "idle_timeout");
	FUZZ_CHECK(IN(c->retention_days, 1, 3650), "retention_days");
	FUZZ_CHECK(isfinite(c->global_per_second) &&
		   IN(c->global_per_second, 0.1, 1000), "global_per_second");
	FUZZ_CHECK(isfinite(c->chat_per_second) &&
		   IN(c->chat_per_second, 0.01, 100), "chat_per_second");
	FUZZ_CHECK(IN(c->group_per_minute, 1, 1000), "group_per_minute");
	FUZZ_CHECK(IN(c->retry_after_cap, 1, 86400), "retry_after_cap");
	FUZZ_CHECK(isfinite(c->retry_base) && IN(c->retry_base, 0.01, 3600),
		   "retry_base %g", c->retry_base);
	FUZZ_CHECK(isfinite(c->retry_cap) && IN(c->retry_cap, 0.01, 86400) &&
		   c->retry_cap >= c->retry_base, "retry_cap %g", c->retry_cap);
	FUZZ_CHECK(IN(c->max_age, 60, 2592000), "max_age");
	FUZZ_CHECK(IN(c->breaker_threshold, 1, 1000), "breaker_threshold");
	FUZZ_CHECK(IN(c->notify_severity, 0, SEV_COUNT - 1),
		   "notify_severity %d", c->notify_severity);
	FUZZ_CHECK(c->link_preview == 0 || c->link_preview == 1,
		   "link_preview %d", c->link_preview);
	FUZZ_CHECK(c->pack == 0 || c->pack == 1, "pack %d", c->pack);
	FUZZ_CHECK(c->buttons == 0 || c->buttons == 1, "buttons %d",
		   c->buttons);
	FUZZ_CHECK(IN(c->repeat_window, 0, 86400), "repeat_window");
	FUZZ_CHECK(IN(c->log_level, LOG_LVL_ERROR, LOG_LVL_DEBUG),
		   "log_level %d", c->log_level);

	FUZZ_CHECK(c->nroutes <= CONFIG_MAX_ROUTES, "nroutes %zu",
		   c->nroutes);
	for (i = 0; i < c->nroutes; i++) {
		const struct route *r = &c->routes[i];

		FUZZ_CHECK(TERMINATED(r->source), "route source");
		FUZZ_CHECK(IN(r->min_severity, 0, SEV_COUNT - 1),
			   "route min_severity %d", r->min_severity);
		check_ids(r->chats, r->nchats, CONFIG_MAX_CHATS, 0,
			  "route chats");
	}
	/* The lookups must agree with the lists. */
	FUZZ_CHECK(config_is_chat(c, c->chats[0]), "config_is_chat");
	if (c->nadmins > 0)
		FUZZ_CHECK(config_is_admin(c, c->admins[0]),
			   "config_is_admin");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* static: struct config is about 40 KB, err is big enough for many
	 * messages */
	static struct config cfg;
	static char err[8192], warn[4096];
	char *text = fuzz_dup(data, size, 1);
	int rc;

	memset(&cfg, 0xa5, sizeof(cfg)); /* defaults must overwrite junk */
	memset(err, 0xa5, sizeof(err));
	memset(warn, 0xa5, sizeof(warn));
	rc = config_load_string(&cfg, text, "fuzz.conf", NULL, err,
				sizeof(err), warn, sizeof(warn));
	FUZZ_CHECK(TERMINATED(err) && TERMINATED(warn),
		   "message not terminated");
	if (rc == 0) {
		check_ok(&cfg);
	} else {
		FUZZ_CHECK(rc == -1, "rc %d", rc);
		FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0,
			   "error not \"FILE:LINE: message\": %s", err);
	}
	/* The token must never reach a message. */
	if (rc == 0 && strlen(cfg.token) >= 8)
		FUZZ_CHECK(strstr(err, cfg.token) == NULL &&
			   strstr(warn, cfg.token) == NULL,
			   "token in a message");
	free(text);
	return 0;
}
