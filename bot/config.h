/*
 * config.h - the daemon's configuration: the libconfig file, validated.
 *
 * config_load() type- and range-checks every key, refuses unknown keys,
 * and reports each problem as "FILE:LINE: message". It never logs.
 */
#ifndef OPSBOT_CONFIG_H
#define OPSBOT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_MAX_CHATS 64
#define CONFIG_MAX_USERS 256
#define CONFIG_MAX_ROUTES 32
#define ROUTE_MAX_LABELS 16     /* label matchers per route */
#define ROUTE_LABEL_NAME 64     /* bytes, with the NUL */
#define ROUTE_LABEL_GLOB 256
#define CONFIG_MAX_TEMPLATE 8192      /* bytes of one template */
#define CONFIG_TEMPLATE_POOL 65536    /* bytes of all templates together */
#define CONFIG_MAX_PEERS 8      /* Alertmanager URLs per list */
#define CONFIG_PEER_URL 512     /* bytes of one, with the NUL */
#define CONFIG_MAX_MATCHERS 16  /* label names of a silence's matchers */
#define CONFIG_MATCHER_NAME 64  /* bytes of one, with the NUL */
#define CONFIG_SECRET 256       /* bytes of a token or password, with NUL */

/* socket.key_scope: whose alerts a key names. UID: each socket peer uid
 * has its own keys (HTTP alerts, peer_uid -1, share one namespace);
 * SHARED: one namespace for every sender. */
enum key_scope { KEY_SCOPE_UID = 0, KEY_SCOPE_SHARED = 1 };

/* One label condition of a route: the alert's label name must match glob
 * (fnmatch), or, when negate is set, must not (an absent label matches
 * only a negated condition). */
struct label_match {
	char name[ROUTE_LABEL_NAME];
	char glob[ROUTE_LABEL_GLOB]; /* without the leading "!" */
	int negate;
};

/* A message template: its text lives in config.tpl_pool (so that a
 * struct config stays copyable by value). len 0 = none. */
struct tpl_ref {
	uint32_t off, len;
};

struct route {
	char source[128];     /* glob on alert source (fnmatch); "" = any */
	int min_severity;     /* enum severity; alerts at least this severe */
	int64_t chats[CONFIG_MAX_CHATS];
	size_t nchats;
	int64_t thread_id;    /* message_thread_id for these chats; 0 = none */
	struct label_match labels[ROUTE_MAX_LABELS]; /* all must match */
	size_t nlabels;
	struct tpl_ref tpl;   /* template / template_file; none = global */
};

struct config {
	char path[4096];      /* file this came from */

	/* telegram */
	char api_url[512];
	char token[256];      /* resolved: env OPSBOT_TOKEN > token_file > token */
	char token_source[64];/* "OPSBOT_TOKEN", "token_file", "token", "" */
	int64_t chats[CONFIG_MAX_CHATS];
	size_t nchats;
	int64_t admins[CONFIG_MAX_USERS];
	size_t nadmins;
	int64_t viewers[CONFIG_MAX_USERS]; /* may run read-only commands */
	size_t nviewers;
	int poll_timeout;     /* s, getUpdates long poll; 0 disables polling */
	int connect_timeout;  /* s */
	int request_timeout;  /* s, total per request (not the long poll) */
	char proxy[512];      /* "" = libcurl's environment (http_proxy ...) */
	char no_proxy[512];   /* hosts that bypass proxy; used only with it */

	/* socket */
	char socket_path[108];
	mode_t socket_mode;   /* default 0660 */
	char socket_group[64];/* "" = daemon's group */
	uid_t allowed_uids[CONFIG_MAX_USERS]; /* empty = anyone who can connect */
	size_t nallowed_uids;
	int max_clients;      /* default 256 */
	size_t max_line;      /* bytes, default 65536 */
	size_t max_output;    /* bytes buffered per client, default 1 MiB */
	int idle_timeout;     /* s, default 300 */
	int max_clients_per_uid; /* connections of one peer uid, default 32 */
	size_t max_output_total; /* reply bytes over all clients, 32 MiB */
	int key_scope;        /* enum key_scope; default KEY_SCOPE_UID */

	/* store */
	char store_path[4096];
	int retention_days;   /* default 30 */

	/* limits: pre-emptive pacing */
	double global_per_second; /* default 30 */
	double chat_per_second;   /* default 1 */
	int group_per_minute;     /* default 20 */
	int retry_after_cap;      /* s, default 3600 */

	/* retry */
	double retry_base;    /* s, default 1 */
	double retry_cap;     /* s, default 300 */
	int max_age;          /* s, default 86400: then failed */
	int breaker_threshold;/* consecutive transient failures, default 5 */

	/* delivery */
	int notify_severity;  /* ring for this and more severe; default error */
	int link_preview;     /* 0 (default) disables link previews */
	int repeat_window;    /* s, default 600 */
	int pack;             /* pack backlogs into one message; default 1 */
	int buttons;          /* Ack / Mute buttons on error+; default 1 */
	int pack_after;       /* s: ringing alerts go singly while the chat's
				 budget clears them within this; default 10 */
	char timezone[64];    /* tz database name for "fired 12:03"; "UTC" */
	struct tpl_ref tpl;   /* delivery.template(_file); none = built-in */

	struct route routes[CONFIG_MAX_ROUTES];
	size_t nroutes;

	/* template texts (routes[].tpl, tpl), NUL-separated */
	char tpl_pool[CONFIG_TEMPLATE_POOL];
	size_t tpl_used;

	/* log */
	int log_level;        /* enum log_level; default info */

	/* http: the HTTP intake, off unless http_listen is set */
	char http_listen[128];    /* "host:port"; "" = no HTTP listener */
	char http_token[256];     /* bearer token from http.token_file; "" =
				     none (then listen is loopback) */
	size_t http_max_body;     /* bytes, default 1 MiB */
	int http_max_alerts;      /* alerts per request, default 1000 */
	int http_max_connections; /* default 64 */
	int http_timeout;         /* s, idle per connection, default 10 */
	int http_request_timeout; /* s, a body's whole upload, default 30 */
	int http_default_severity;/* webhook alerts without a known severity
				     label; default warning */

	/* alertmanager: silences from the chat, off unless am_npeers */
	char am_peers[CONFIG_MAX_PEERS][CONFIG_PEER_URL];
	size_t am_npeers;
	char am_token[CONFIG_SECRET];    /* bearer, from token_file; "" none */
	char am_user[128];               /* basic auth user; "" none */
	char am_password[CONFIG_SECRET]; /* from password_file */
	int am_connect_timeout;          /* s, default 3 */
	int am_timeout;                  /* s, total per request, default 10 */
	/* label names a silence matches on; "*" = every label */
	char am_matchers[CONFIG_MAX_MATCHERS][CONFIG_MATCHER_NAME];
	size_t am_nmatchers;

	/* relay: forward alerts into Alertmanager, on when relay_npeers */
	char relay_peers[CONFIG_MAX_PEERS][CONFIG_PEER_URL];
	size_t relay_npeers;
	char relay_token[CONFIG_SECRET];
	char relay_user[128];
	char relay_password[CONFIG_SECRET];
	char relay_host[256];            /* the "host" label; "" = hostname */
	int relay_repost_interval;       /* s, default 60 */
	int relay_batch;                 /* alerts per POST, default 100 */
	int relay_connect_timeout;       /* s, default 3 */
	int relay_timeout;               /* s, default 10 */
	int relay;                       /* 1: relay mode (no Telegram) */
};

/* Fills *cfg with every default (no file read). */
void config_defaults(struct config *cfg);

/* Loads and validates path into *cfg (defaults first). Returns 0, or -1
 * with every problem found, one "FILE:LINE: message" per line, in err.
 * env_token is the value of OPSBOT_TOKEN or NULL. Warnings that are not
 * errors (token file readable by others) go to warn, same format; warn may
 * be NULL. */
int config_load(struct config *cfg, const char *path, const char *env_token,
		char *err, size_t errlen, char *warn, size_t warnlen);

/* Same, from a string (for tests and the fuzz target); name is used in
 * messages in place of a file name. */
int config_load_string(struct config *cfg, const char *text, const char *name,
		       const char *env_token, char *err, size_t errlen,
		       char *warn, size_t warnlen);

/* 1 if user may run every command; viewers only read-only ones. */
int config_is_admin(const struct config *cfg, int64_t user_id);
int config_is_viewer(const struct config *cfg, int64_t user_id);
/* 1 if chat is a destination (default or routed). */
int config_is_chat(const struct config *cfg, int64_t chat_id);

/* The text of a template reference (NUL-terminated, in cfg's pool), or
 * NULL for none. */
const char *config_template(const struct config *cfg, const struct tpl_ref *t);

#endif
