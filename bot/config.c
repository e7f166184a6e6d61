/*
 * config.c - loads the libconfig file into struct config: every key is
 * type- and range-checked against a table, unknown keys are refused with a
 * hint, the bot token is resolved (OPSBOT_TOKEN > token_file > token), and
 * every problem is reported as "FILE:LINE: message", one per line.
 *
 * Never logs; never echoes any part of a token.
 */
#include "bot/config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerts/alert.h"
#include "alerts/httpaddr.h"
#include "alerts/template.h"
#include "bot/log.h"
#include "bot/tz.h"
#include "bot/url.h"
#include "bot/util.h"

/* A config file is a few KiB; refuse anything absurd before parsing it. */
#define CONFIG_MAX_TEXT (1024 * 1024)
/* Longest line kept per problem; longer ones are cut. */
#define CONFIG_MAX_MSG 1024
/* How much of a user string we quote back in a message. */
#define CONFIG_MAX_QUOTE 64

/* Everything one load needs: the result, the problem lists, and the token
 * settings that are only resolved once the whole file has been read. */
struct ctx {
	struct config *cfg;
	const char *name;
	const char *env_token;

	char *err;
	size_t errlen, errpos;
	int errfull, nerr;
	char *warn;
	size_t warnlen, warnpos;
	int warnfull;

	int chats_line;           /* -1 = telegram.chats absent */
	int chats_len;            /* entries written, -1 = not a list */
	int token_line, token_file_line; /* 0 = not set */
	char token[256];          /* inline telegram.token */
	char token_file[4096];
	int token_refused;        /* a token key was set but refused */
	int file_mode;            /* the config file's mode; -1 unknown */

	int http_listen_line;     /* 0 = http.listen absent or refused */
	int http_loopback;        /* http.listen is a loopback address */
	int http_token_file_line; /* 0 = not set */
	char http_token_file[4096];
};

/* ---- problem lists ----------------------------------------------------- */

/* Appends "NAME[:LINE]: text" to buf as a new line, keeping room for the
 * "... more" marker so that the reader knows something was cut. */
static void add_line(char *buf, size_t len, size_t *pos, int *full,
		     const char *more, const char *name, int line,
		     const char *text)
{
	char tmp[CONFIG_MAX_MSG];
	size_t n, sep, moren = strlen(more);

	if (buf == NULL || len == 0 || *full)
		return;
	if (line > 0)
		snprintf(tmp, sizeof(tmp), "%s:%d: %s", name, line, text);
	else if (name == NULL)
		snprintf(tmp, sizeof(tmp), "%s", text); /* has its place */
	else
		snprintf(tmp, sizeof(tmp), "%s: %s", name, text);
	n = strlen(tmp);
	sep = *pos > 0;
	if (*pos + sep + n + 1 + moren + 1 <= len) {
		if (sep)
			buf[(*pos)++] = '\n';
		memcpy(buf + *pos, tmp, n + 1);
		*pos += n;
		return;
	}
	*full = 1;
	if (*pos + sep + moren + 1 <= len) {
		if (sep)
			buf[(*pos)++] = '\n';
		memcpy(buf + *pos, more, moren + 1);
		*pos += moren;
	} else if (*pos == 0) {
		str_copy(buf, tmp, len); /* tiny buffer: cut the first line */
	}
}

static void error_at(struct ctx *c, int line, const char *fmt, ...)
	ATTR_PRINTF(3, 4);
static void error_at(struct ctx *c, int line, const char *fmt, ...)
{
	char text[CONFIG_MAX_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	c->nerr++;
	add_line(c->err, c->errlen, &c->errpos, &c->errfull,
		 "... more errors", c->name, line, text);
}

/* A message that already names its file and line (a template's). */
static void error_raw(struct ctx *c, const char *text)
{
	c->nerr++;
	add_line(c->err, c->errlen, &c->errpos, &c->errfull,
		 "... more errors", NULL, 0, text);
}

static void warn_at(struct ctx *c, int line, const char *fmt, ...)
	ATTR_PRINTF(3, 4);
static void warn_at(struct ctx *c, int line, const char *fmt, ...)
{
	char text[CONFIG_MAX_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	add_line(c->warn, c->warnlen, &c->warnpos, &c->warnfull,
		 "... more warnings", c->name, line, text);
}

/* A user string made safe to quote: bounded, one line, printable. */
static const char *quote(char *dst, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		dst[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	dst[i] = '\0';
	if (s[i] != '\0' && size > 4)
		memcpy(dst + size - 4, "...", 4);
	return dst;
}

static int line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* ---- the key tables ---------------------------------------------------- */

enum kind {
	K_INT,      /* int field */
	K_SIZE,     /* size_t field */
	K_NUM,      /* double field: int or float in the file */
	K_BOOL,     /* int field, 0/1 */
	K_STR,      /* char[size] field */
	K_PATH,     /* char[size] field, non-empty */
	K_URL,      /* char[size] field: http(s) URL, trailing '/' dropped */
	K_CHATS,    /* int64_t[size] at off, count at noff: non-zero, unique */
	K_USERS,    /* int64_t[size] at off, count at noff: positive */
	K_UIDS,     /* uid_t[size] at off, count at noff */
	K_MODE,     /* mode_t field: "0660" or 660 */
	K_SEVERITY, /* int field: enum severity */
	K_LOGLEVEL, /* int field: enum log_level */
	K_TOKEN,    /* kept in the ctx until every source is known */
	K_TOKENFILE,
	K_INT64,    /* int64_t field */
	K_LISTEN,   /* char[size] field: http.listen "host:port" */
	K_HTTPTOKENFILE, /* kept in the ctx, read once the file is in */
	K_PROXY,    /* char[size] field: proxy URL, checked with curl_url */
	K_TEMPLATE, /* struct tpl_ref field: template text, compiled, checked */
	K_TEMPLATEFILE, /* struct tpl_ref field: the same, read from a file */
	K_LABELS,   /* route only: group of label = "glob" */
	K_TZ,       /* char[size] field: a time zone the tz database has */
	K_KEYSCOPE, /* int field: enum key_scope, "uid" or "shared" */
	K_URLS,     /* char[size][CONFIG_PEER_URL] at off, count at noff */
	K_NAMES,    /* char[size][CONFIG_MATCHER_NAME] label names or "*" */
	K_SECRETFILE, /* char[CONFIG_SECRET] field: first line of the file */
};

/*
 * def is the key's default, written as in the config file ("50", "true",
 * "\"0660\"", "[ ]"); NULL when there is none (required, or unset means
 * absent). config_defaults() applies it, and test_config checks that
 * bot.conf.example shows the same text for every key.
 */
struct key {
	const char *name;
	enum kind kind;
	double lo, hi;
	size_t off, size, noff;
	const char *def;
};

#define CFG_FIELD_SIZE(f) sizeof(((struct config *)0)->f)
#define K(n, k, lo, hi, f, def) \
	{ n, k, lo, hi, offsetof(struct config, f), CFG_FIELD_SIZE(f), 0, def }
#define KLIST(n, k, f, cnt, def) \
	{ n, k, 0, 0, offsetof(struct config, f), \
	  ARRAY_LEN(((struct config *)0)->f), offsetof(struct config, cnt), \
	  def }
#define KNONE(n, k) { n, k, 0, 0, 0, 0, 0, NULL }

static const struct key telegram_keys[] = {
	K("api_url", K_URL, 0, 0, api_url, "\"https://api.telegram.org\""),
	KNONE("token", K_TOKEN),
	KNONE("token_file", K_TOKENFILE),
	KLIST("chats", K_CHATS, chats, nchats, NULL),
	KLIST("admins", K_USERS, admins, nadmins, "[ ]"),
	KLIST("viewers", K_USERS, viewers, nviewers, "[ ]"),
	K("poll_timeout", K_INT, 0, 600, poll_timeout, "50"),
	K("connect_timeout", K_INT, 1, 300, connect_timeout, "10"),
	K("request_timeout", K_INT, 1, 600, request_timeout, "30"),
	K("proxy", K_PROXY, 0, 0, proxy, "\"\""),
	K("no_proxy", K_STR, 0, 0, no_proxy, "\"\""),
};

static const struct key socket_keys[] = {
	K("path", K_PATH, 0, 0, socket_path, "\"/run/opsbot/alerts.sock\""),
	K("mode", K_MODE, 0, 0777, socket_mode, "\"0660\""),
	K("group", K_STR, 0, 0, socket_group, "\"\""),
	KLIST("allowed_uids", K_UIDS, allowed_uids, nallowed_uids, "[ ]"),
	K("max_clients", K_INT, 1, 65536, max_clients, "256"),
	K("max_line", K_SIZE, 1024, 16777216, max_line, "65536"),
	K("max_output", K_SIZE, 4096, 1073741824, max_output, "1048576"),
	K("idle_timeout", K_INT, 1, 86400, idle_timeout, "300"),
	K("max_clients_per_uid", K_INT, 1, 65536, max_clients_per_uid, "32"),
	K("max_output_total", K_SIZE, 65536, 17179869184.0, max_output_total,
	  "33554432"),
	K("key_scope", K_KEYSCOPE, 0, 0, key_scope, "\"uid\""),
};

static const struct key store_keys[] = {
	K("path", K_PATH, 0, 0, store_path, "\"/var/lib/opsbot/opsbot.db\""),
	K("retention_days", K_INT, 1, 3650, retention_days, "30"),
};

static const struct key limits_keys[] = {
	K("global_per_second", K_NUM, 0.1, 1000, global_per_second, "30"),
	K("chat_per_second", K_NUM, 0.01, 100, chat_per_second, "1"),
	K("group_per_minute", K_INT, 1, 1000, group_per_minute, "20"),
	K("retry_after_cap", K_INT, 1, 86400, retry_after_cap, "3600"),
};

static const struct key retry_keys[] = {
	K("base", K_NUM, 0.01, 3600, retry_base, "1"),
	K("cap", K_NUM, 0.01, 86400, retry_cap, "300"),
	K("max_age", K_INT, 60, 2592000, max_age, "86400"),
	K("breaker_threshold", K_INT, 1, 1000, breaker_threshold, "5"),
};

static const struct key delivery_keys[] = {
	K("notify_severity", K_SEVERITY, 0, 0, notify_severity, "\"error\""),
	K("link_preview", K_BOOL, 0, 0, link_preview, "false"),
	K("repeat_window", K_INT, 0, 86400, repeat_window, "600"),
	K("pack", K_BOOL, 0, 0, pack, "true"),
	K("buttons", K_BOOL, 0, 0, buttons, "true"),
	K("pack_after", K_INT, 0, 3600, pack_after, "10"),
	K("timezone", K_TZ, 0, 0, timezone, "\"UTC\""),
	K("template", K_TEMPLATE, 0, 0, tpl, NULL),
	K("template_file", K_TEMPLATEFILE, 0, 0, tpl, NULL),
};

static const struct key log_keys[] = {
	K("level", K_LOGLEVEL, 0, 0, log_level, "\"info\""),
};

static const struct key http_keys[] = {
	K("listen", K_LISTEN, 0, 0, http_listen, NULL),
	KNONE("token_file", K_HTTPTOKENFILE),
	K("max_body", K_SIZE, 1024, 67108864, http_max_body, "1048576"),
	K("max_alerts", K_INT, 1, 100000, http_max_alerts, "1000"),
	K("max_connections", K_INT, 1, 4096, http_max_connections, "64"),
	K("timeout", K_INT, 1, 3600, http_timeout, "10"),
	K("request_timeout", K_INT, 1, 3600, http_request_timeout, "30"),
	K("default_severity", K_SEVERITY, 0, 0, http_default_severity,
	  "\"warning\""),
};

/* Alertmanager peers and their credentials: the silences' and the
 * relay's sections share these shapes. */
static const struct key alertmanager_keys[] = {
	KLIST("urls", K_URLS, am_peers, am_npeers, "[ ]"),
	K("token_file", K_SECRETFILE, 0, 0, am_token, NULL),
	K("user", K_STR, 0, 0, am_user, "\"\""),
	K("password_file", K_SECRETFILE, 0, 0, am_password, NULL),
	K("connect_timeout", K_INT, 1, 300, am_connect_timeout, "3"),
	K("timeout", K_INT, 1, 600, am_timeout, "10"),
	KLIST("silence_matchers", K_NAMES, am_matchers, am_nmatchers,
	      "[ \"alertname\", \"instance\" ]"),
};

static const struct key relay_keys[] = {
	KLIST("alertmanager", K_URLS, relay_peers, relay_npeers, "[ ]"),
	K("token_file", K_SECRETFILE, 0, 0, relay_token, NULL),
	K("user", K_STR, 0, 0, relay_user, "\"\""),
	K("password_file", K_SECRETFILE, 0, 0, relay_password, NULL),
	K("host", K_STR, 0, 0, relay_host, "\"\""),
	K("repost_interval", K_INT, 5, 3600, relay_repost_interval, "60"),
	K("batch", K_INT, 1, 10000, relay_batch, "100"),
	K("connect_timeout", K_INT, 1, 300, relay_connect_timeout, "3"),
	K("timeout", K_INT, 1, 600, relay_timeout, "10"),
};

#define ROUTE_FIELD_SIZE(f) sizeof(((struct route *)0)->f)
static const struct key route_keys[] = {
	{ "source", K_STR, 0, 0, offsetof(struct route, source),
	  ROUTE_FIELD_SIZE(source), 0, "\"\"" },
	{ "min_severity", K_SEVERITY, 0, 0,
	  offsetof(struct route, min_severity),
	  ROUTE_FIELD_SIZE(min_severity), 0, "\"debug\"" },
	{ "chats", K_CHATS, 0, 0, offsetof(struct route, chats),
	  ARRAY_LEN(((struct route *)0)->chats),
	  offsetof(struct route, nchats), NULL },
	{ "thread_id", K_INT64, 0, 0, offsetof(struct route, thread_id),
	  ROUTE_FIELD_SIZE(thread_id), 0, "0" },
	{ "labels", K_LABELS, 0, 0, offsetof(struct route, labels),
	  ARRAY_LEN(((struct route *)0)->labels),
	  offsetof(struct route, nlabels), NULL },
	{ "template", K_TEMPLATE, 0, 0, offsetof(struct route, tpl),
	  ROUTE_FIELD_SIZE(tpl), 0, NULL },
	{ "template_file", K_TEMPLATEFILE, 0, 0, offsetof(struct route, tpl),
	  ROUTE_FIELD_SIZE(tpl), 0, NULL },
};

struct section {
	const char *name;
	const struct key *keys;
	size_t nkeys;
};

static const struct section sections[] = {
	{ "telegram", telegram_keys, ARRAY_LEN(telegram_keys) },
	{ "socket", socket_keys, ARRAY_LEN(socket_keys) },
	{ "store", store_keys, ARRAY_LEN(store_keys) },
	{ "limits", limits_keys, ARRAY_LEN(limits_keys) },
	{ "retry", retry_keys, ARRAY_LEN(retry_keys) },
	{ "delivery", delivery_keys, ARRAY_LEN(delivery_keys) },
	{ "routes", NULL, 0 },
	{ "log", log_keys, ARRAY_LEN(log_keys) },
	{ "http", http_keys, ARRAY_LEN(http_keys) },
	{ "alertmanager", alertmanager_keys, ARRAY_LEN(alertmanager_keys) },
	{ "relay", relay_keys, ARRAY_LEN(relay_keys) },
};

/* ---- unknown keys ------------------------------------------------------ */

/* Levenshtein distance, or a large number for names too long to matter. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t row[64], la = strlen(a), lb = strlen(b), i, j;

	if (la >= ARRAY_LEN(row) || lb >= ARRAY_LEN(row))
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0], up;

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best;

			up = row[j];
			best = diag + (tolower((unsigned char)a[i - 1]) !=
				       tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* names is an array of structs whose first member is a const char *name,
 * stride bytes apart. */
static void unknown_key(struct ctx *c, const config_setting_t *s,
			const char *prefix, const void *names, size_t n,
			size_t stride)
{
	const char *name = config_setting_name(s), *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < n; i++) {
		const char *cand;
		size_t d;

		memcpy(&cand, (const char *)names + i * stride, sizeof(cand));
		d = edit_distance(name, cand);
		if (d < bestd) {
			bestd = d;
			best = cand;
		}
	}
	if (best != NULL)
		error_at(c, line_of(s), "unknown key \"%s%s%s\" (did you mean "
			 "\"%s\"?)", prefix, *prefix ? "." : "", name, best);
	else
		error_at(c, line_of(s), "unknown key \"%s%s%s\"", prefix,
			 *prefix ? "." : "", name);
}

/* ---- value checks ------------------------------------------------------ */

static int is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "nothing";
	}
}

static void wrong_type(struct ctx *c, const config_setting_t *s,
		       const char *path, const char *expected)
{
	error_at(c, line_of(s), "%s: expected %s, got %s", path, expected,
		 type_name(s));
}

/* Reads an integer in [lo, hi]; 0 on success. */
static int get_int(struct ctx *c, const config_setting_t *s, const char *path,
		   long long lo, long long hi, long long *out)
{
	long long v;

	if (!is_int(s)) {
		wrong_type(c, s, path, "an integer");
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < lo || v > hi) {
		error_at(c, line_of(s), "%s: %lld is out of range (%lld..%lld)",
			 path, v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_num(struct ctx *c, const config_setting_t *s, const char *path,
		   double lo, double hi, double *out)
{
	double v;

	if (is_int(s))
		v = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else {
		wrong_type(c, s, path, "a number");
		return -1;
	}
	if (!isfinite(v) || v < lo || v > hi) {
		error_at(c, line_of(s), "%s: %g is out of range (%g..%g)",
			 path, v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* The string value, or NULL after reporting a wrong type or a value that
 * does not fit size bytes. */
static const char *get_str(struct ctx *c, const config_setting_t *s,
			   const char *path, size_t size)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(c, s, path, "a string");
		return NULL;
	}
	v = config_setting_get_string(s);
	if (v == NULL)
		v = "";
	if (strlen(v) >= size) {
		error_at(c, line_of(s), "%s: too long (max %zu bytes)", path,
			 size - 1);
		return NULL;
	}
	return v;
}

/* An array (or list) of integer ids into the k->size-element array at
 * base + k->off, its count at base + k->noff; each kind vets its values. */
static void get_ids(struct ctx *c, const config_setting_t *s, const char *path,
		    const struct key *k, void *base)
{
	size_t *count = (size_t *)((char *)base + k->noff);
	int t = config_setting_type(s), n;
	char epath[224];

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		wrong_type(c, s, path,
			   "an array of integers like [ 123, 456 ]");
		return;
	}
	n = config_setting_length(s);
	if (n < 0 || (size_t)n > k->size) {
		error_at(c, line_of(s), "%s: too many entries (%d, max %zu)",
			 path, n, k->size);
		n = (int)k->size;
	}
	*count = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		long long v;

		if (e == NULL)
			break;
		snprintf(epath, sizeof(epath), "%s[%d]", path, i);
		if (!is_int(e)) {
			wrong_type(c, e, epath, "an integer");
			continue;
		}
		v = config_setting_get_int64(e);
		if (k->kind == K_CHATS) {
			int64_t *ids = (int64_t *)((char *)base + k->off);
			size_t j;

			if (v == 0) {
				error_at(c, line_of(e),
					 "%s: 0 is not a chat id", epath);
				continue;
			}
			for (j = 0; j < *count && ids[j] != v; j++)
				;
			if (j < *count) {
				error_at(c, line_of(e), "%s: duplicate chat id "
					 "%lld", epath, v);
				continue;
			}
			ids[(*count)++] = v;
		} else if (k->kind == K_USERS) {
			int64_t *ids = (int64_t *)((char *)base + k->off);

			if (v <= 0) {
				error_at(c, line_of(e), "%s: %lld is not a "
					 "user id (user ids are positive)",
					 epath, v);
				continue;
			}
			ids[(*count)++] = v;
		} else {
			uid_t *ids = (uid_t *)((char *)base + k->off);

			/* (uid_t)-1 means "no uid" to the kernel. */
			if (v < 0 || v >= 4294967295LL) {
				error_at(c, line_of(e), "%s: %lld is not a uid",
					 epath, v);
				continue;
			}
			ids[(*count)++] = (uid_t)v;
		}
	}
}

/* libconfig has no octal literals (0660 reads as decimal 660), so an
 * integer mode is read digit by digit as octal, like chmod(1) does. */
static void get_mode(struct ctx *c, const config_setting_t *s,
		     const char *path, mode_t *out)
{
	char digits[32];
	unsigned long m = 0;
	size_t i;

	if (is_int(s)) {
		long long v = config_setting_get_int64(s);

		if (v < 0)
			goto bad;
		snprintf(digits, sizeof(digits), "%lld", v);
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *v = config_setting_get_string(s);

		if (v == NULL || strlen(v) >= sizeof(digits))
			goto bad;
		str_copy(digits, v, sizeof(digits));
	} else {
		wrong_type(c, s, path, "an octal mode like \"0660\"");
		return;
	}
	if (digits[0] == '\0')
		goto bad;
	for (i = 0; digits[i] != '\0'; i++) {
		if (digits[i] < '0' || digits[i] > '7')
			goto bad;
		m = m * 8 + (unsigned long)(digits[i] - '0');
		if (m > 0777)
			goto bad;
	}
	*out = (mode_t)m;
	return;
bad:
	error_at(c, line_of(s), "%s: expected an octal mode from \"0000\" to "
		 "\"0777\", like \"0660\"", path);
}

static void get_url(struct ctx *c, const config_setting_t *s,
		    const char *path, char *dst, size_t size)
{
	const char *v = get_str(c, s, path, size);
	size_t n;
	int rc;

	if (v == NULL)
		return;
	/* Not quoted back: a careless URL may carry the token. */
	if ((rc = url_check(v, NULL, 0)) == URL_BAD_CHAR) {
		error_at(c, line_of(s), "%s: URL contains white space or "
			 "control characters", path);
		return;
	}
	if (rc != URL_OK) {
		error_at(c, line_of(s), "%s: expected an http:// or https:// "
			 "URL like \"https://api.telegram.org\"", path);
		return;
	}
	str_copy(dst, v, size);
	n = strlen(dst);
	while (n > 0 && dst[n - 1] == '/')
		dst[--n] = '\0';
}

static void get_severity(struct ctx *c, const config_setting_t *s,
			 const char *path, int *out)
{
	char q[CONFIG_MAX_QUOTE];
	const char *v;
	int sev;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(c, s, path, "a severity name");
		return;
	}
	v = config_setting_get_string(s);
	if (v == NULL || (sev = severity_parse(v)) < 0) {
		error_at(c, line_of(s), "%s: unknown severity \"%s\" (expected "
			 "critical, error, warning, info or debug)", path,
			 quote(q, sizeof(q), v ? v : ""));
		return;
	}
	*out = sev;
}

/* From LOG_LVL_ERROR on. */
static const char *const log_level_names[] = {
	"error", "warn", "info", "debug"
};

/* A string that must be one of names (any case): its index in *out.
 * what names the kind in messages ("level"), expected lists the names. */
static void get_name(struct ctx *c, const config_setting_t *s,
		     const char *path, const char *const *names, size_t n,
		     const char *what, const char *expected, int *out)
{
	char q[CONFIG_MAX_QUOTE];
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(c, s, path, "a string");
		return;
	}
	v = config_setting_get_string(s);
	for (size_t i = 0; v != NULL && i < n; i++) {
		if (strcasecmp(v, names[i]) == 0) {
			*out = (int)i;
			return;
		}
	}
	error_at(c, line_of(s), "%s: unknown %s \"%s\" (expected %s)", path,
		 what, quote(q, sizeof(q), v ? v : ""), expected);
}

_Static_assert(LOG_LVL_ERROR == 0, "log levels index log_level_names");

static void get_loglevel(struct ctx *c, const config_setting_t *s,
			 const char *path, int *out)
{
	/* enum log_level counts from LOG_LVL_ERROR = 0, in this order */
	get_name(c, s, path, log_level_names, ARRAY_LEN(log_level_names),
		 "level", "error, warn, info or debug", out);
}

static const char *const key_scope_names[] = { "uid", "shared" };

static void get_keyscope(struct ctx *c, const config_setting_t *s,
			 const char *path, int *out)
{
	get_name(c, s, path, key_scope_names, ARRAY_LEN(key_scope_names),
		 "scope", "uid or shared", out);
}

/* http.listen: parsed as httpd will parse it; whether it is loopback is
 * kept for the token rule checked once the whole file is in. */
static void get_listen(struct ctx *c, const config_setting_t *s,
		       const char *path, char *dst, size_t size)
{
	const char *v = get_str(c, s, path, size);
	struct httpaddr a;
	char why[256];

	if (v == NULL)
		return;
	if (httpaddr_parse(v, &a, why, sizeof(why)) < 0) {
		error_at(c, line_of(s), "%s: %s", path, why);
		return;
	}
	str_copy(dst, v, size);
	c->http_listen_line = line_of(s);
	c->http_loopback = a.loopback;
}

/* ---- proxies, label globs, templates ---------------------------------- */

/* A proxy URL as libcurl will read it: a scheme it can use for a proxy
 * and a host. Never quoted back: it may carry a password. */
static void get_proxy(struct ctx *c, const config_setting_t *s,
		      const char *path, char *dst, size_t size)
{
	static const char *const schemes[] = {
		"http", "https", "socks5", "socks5h"
	};
	const char *v = get_str(c, s, path, size);
	char *scheme = NULL, *host = NULL;
	CURLU *u;
	size_t k;
	int ok = 0;

	if (v == NULL || *v == '\0') {
		if (v != NULL)
			dst[0] = '\0';
		return;
	}
	if (strstr(v, "://") == NULL) {
		error_at(c, line_of(s), "%s: expected a URL with a scheme, like "
			 "\"socks5h://host:1080\" or \"http://host:3128\"",
			 path);
		return;
	}
	if ((u = curl_url()) != NULL &&
	    curl_url_set(u, CURLUPART_URL, v, CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    host[0] != '\0') {
		for (k = 0; k < ARRAY_LEN(schemes); k++)
			ok |= strcasecmp(scheme, schemes[k]) == 0;
		if (!ok)
			error_at(c, line_of(s), "%s: unsupported proxy scheme "
				 "(expected http, https, socks5 or socks5h)",
				 path);
	} else {
		error_at(c, line_of(s), "%s: not a valid proxy URL (expected "
			 "scheme://[user:password@]host[:port])", path);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	if (ok)
		str_copy(dst, v, size);
}

/* Checks what fnmatch(3) would silently take as literal text: an
 * unclosed [ ] set, an unknown [:class:], a trailing backslash. 0 or -1
 * with the reason in why. */
static int glob_check(const char *g, char *why, size_t whylen)
{
	static const char *const classes[] = {
		"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower",
		"print", "punct", "space", "upper", "xdigit"
	};
	const char *p = g, *e;
	size_t k;

	if (*g == '\0')
		return err_set(why, whylen, "empty glob (\"*\" matches any "
			       "value)");
	for (; *p; p++) {
		if (*p == '\\') {
			if (*++p == '\0')
				return err_set(why, whylen, "glob ends with a "
					       "lone backslash");
			continue;
		}
		if (*p != '[')
			continue;
		p++;
		if (*p == '!' || *p == '^')
			p++;
		if (*p == ']')
			p++; /* a leading ] is a member */
		for (; *p && *p != ']'; p++) {
			if (p[0] != '[' || p[1] != ':')
				continue;
			if ((e = strstr(p + 2, ":]")) == NULL)
				return err_set(why, whylen, "unclosed [: in "
					       "glob");
			for (k = 0; k < ARRAY_LEN(classes); k++)
				if (strlen(classes[k]) == (size_t)(e - p - 2) &&
				    strncmp(p + 2, classes[k], (size_t)(e - p - 2)) == 0)
					break;
			if (k == ARRAY_LEN(classes))
				return err_set(why, whylen, "unknown class "
					       "[:%.*s:] in glob",
					       (int)(e - p - 2 < 20 ? e - p - 2 : 20),
					       p + 2);
			p = e + 1;
		}
		if (*p == '\0')
			return err_set(why, whylen, "unclosed [ in glob");
	}
	return 0;
}

/* A label name as Prometheus and the alert protocol write them. */
static int label_name_ok(const char *n)
{
	if (!isalpha((unsigned char)*n) && *n != '_')
		return 0;
	for (; *n; n++)
		if (!isalnum((unsigned char)*n) && *n != '_')
			return 0;
	return 1;
}

/* The row size of a K_URLS or K_NAMES list. */
static size_t strlist_row(enum kind kind)
{
	return kind == K_URLS ? CONFIG_PEER_URL : CONFIG_MATCHER_NAME;
}

/* urls = [ "http://am1:9093", ... ] or silence_matchers = [ "alertname" ]:
 * an array of strings into k->size rows at base + k->off, the count at
 * base + k->noff. Rows not written stay zero (a list parsed equals the
 * same list applied as a default). */
static void get_strlist(struct ctx *c, const config_setting_t *s,
			const char *path, const struct key *k, void *base)
{
	size_t *count = (size_t *)((char *)base + k->noff), row;
	char *rows = (char *)base + k->off, epath[224], q[CONFIG_MAX_QUOTE];
	int t = config_setting_type(s), n;

	row = strlist_row(k->kind);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		wrong_type(c, s, path, k->kind == K_URLS ?
			   "an array of URLs like [ \"http://am1:9093\" ]" :
			   "an array of label names like [ \"alertname\" ]");
		return;
	}
	memset(rows, 0, k->size * row);
	*count = 0;
	n = config_setting_length(s);
	if (n < 0 || (size_t)n > k->size) {
		error_at(c, line_of(s), "%s: too many entries (%d, max %zu)",
			 path, n, k->size);
		n = (int)k->size;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		char *dst = rows + *count * row;
		const char *v;

		if (e == NULL)
			break;
		snprintf(epath, sizeof(epath), "%s[%d]", path, i);
		if (k->kind == K_URLS) {
			get_url(c, e, epath, dst, row);
			if (*dst != '\0')
				(*count)++;
			continue;
		}
		if ((v = get_str(c, e, epath, row)) == NULL)
			continue;
		if (strcmp(v, "*") != 0 && !label_name_ok(v)) {
			error_at(c, line_of(e), "%s: invalid label name \"%s\" "
				 "(letters, digits and _, or \"*\" for every "
				 "label)", epath, quote(q, sizeof(q), v));
			continue;
		}
		str_copy(dst, v, row);
		(*count)++;
	}
}

/* A default list written as in the file: [ "a", "b" ]. */
static void strlist_default(const struct key *k, void *base)
{
	size_t *count = (size_t *)((char *)base + k->noff), row;
	char *rows = (char *)base + k->off;
	const char *p = k->def;

	row = strlist_row(k->kind);
	*count = 0;
	while (*count < k->size && (p = strchr(p, '"')) != NULL) {
		const char *end = strchr(++p, '"');
		size_t n;

		if (end == NULL)
			break;
		n = (size_t)(end - p) < row ? (size_t)(end - p) : row - 1;
		memcpy(rows + *count * row, p, n);
		rows[*count * row + n] = '\0';
		(*count)++;
		p = end + 1;
	}
}

static const char *token_file_shown(const char *path);
static int read_token_file(struct ctx *c, const char *path, int line,
			   char *dst, size_t size, char *why, size_t whylen);

/* token_file / password_file: the secret is read now, never quoted. */
static void get_secret_file(struct ctx *c, const config_setting_t *s,
			    const char *path, char *dst, size_t size)
{
	const char *v = get_str(c, s, path, 4096);
	char buf[512], why[256];
	const char *p;

	if (v == NULL)
		return;
	if (*v == '\0') {
		error_at(c, line_of(s), "%s: must not be empty", path);
		return;
	}
	if (read_token_file(c, v, line_of(s), buf, sizeof(buf), why,
			    sizeof(why)) < 0) {
		error_at(c, line_of(s), "%s: cannot read %s: %s", path,
			 token_file_shown(v), why);
		return;
	}
	for (p = buf; *p && *p > 0x20 && *p < 0x7f; p++)
		;
	if (*p != '\0' || strlen(buf) >= size)
		error_at(c, line_of(s), "%s: %s does not hold a usable secret "
			 "(one line of printable characters without spaces, "
			 "at most %zu)", path, token_file_shown(v), size - 1);
	else
		str_copy(dst, buf, size);
	explicit_bzero(buf, sizeof(buf));
}

/* labels = { env = "prod*"; team = "!web*"; } */
static void get_labels(struct ctx *c, const config_setting_t *s,
		       const char *path, const struct key *k, void *base)
{
	struct label_match *m = (struct label_match *)(void *)
				((char *)base + k->off);
	size_t *count = (size_t *)(void *)((char *)base + k->noff);
	char epath[256], why[128], q[CONFIG_MAX_QUOTE];
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		wrong_type(c, s, path, "a group like { env = \"prod*\"; }");
		return;
	}
	n = config_setting_length(s);
	if (n > (int)k->size) {
		error_at(c, line_of(s), "%s: too many labels (%d, max %zu)",
			 path, n, k->size);
		n = (int)k->size;
	}
	*count = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *name = e ? config_setting_name(e) : NULL, *g;
		struct label_match *lm = &m[*count];

		if (name == NULL)
			continue;
		snprintf(epath, sizeof(epath), "%s.%s", path, name);
		if (!label_name_ok(name) ||
		    strlen(name) >= sizeof(lm->name)) {
			error_at(c, line_of(e), "%s: invalid label name \"%s\" "
				 "(letters, digits and _, not starting with a "
				 "digit, at most %zu bytes)", epath,
				 quote(q, sizeof(q), name), sizeof(lm->name) - 1);
			continue;
		}
		if ((g = get_str(c, e, epath, sizeof(lm->glob) + 1)) == NULL)
			continue;
		lm->negate = g[0] == '!';
		g += lm->negate;
		if (strlen(g) >= sizeof(lm->glob)) {
			error_at(c, line_of(e), "%s: too long (max %zu bytes)",
				 epath, sizeof(lm->glob) - 1);
			continue;
		}
		if (glob_check(g, why, sizeof(why)) != 0) {
			error_at(c, line_of(e), "%s: %s", epath, why);
			continue;
		}
		str_copy(lm->name, name, sizeof(lm->name));
		str_copy(lm->glob, g, sizeof(lm->glob));
		(*count)++;
	}
}

/* Reads a template file: at most CONFIG_MAX_TEMPLATE bytes. Returns a
 * malloc'd string or NULL with the reason in why. */
static char *read_template(const char *path, size_t *len, char *why,
			   size_t whylen)
{
	char *text = malloc(CONFIG_MAX_TEMPLATE + 2);
	size_t n = 0;
	ssize_t r;
	int fd;

	if (text == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		free(text);
		return NULL;
	}
	while (n < CONFIG_MAX_TEMPLATE + 1) {
		r = read(fd, text + n, CONFIG_MAX_TEMPLATE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0)
				snprintf(why, whylen, "%s", strerror(errno));
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (r < 0 || n > CONFIG_MAX_TEMPLATE) {
		if (n > CONFIG_MAX_TEMPLATE)
			snprintf(why, whylen, "larger than %d bytes",
				 CONFIG_MAX_TEMPLATE);
		free(text);
		return NULL;
	}
	text[n] = '\0';
	*len = n;
	return text;
}

/* A template, inline (file == 0) or from a file: compiled and checked
 * against sample alerts, then kept in the configuration's pool. */
static void get_template(struct ctx *c, const config_setting_t *s,
			 const char *path, struct tpl_ref *ref, int file)
{
	struct config *cfg = c->cfg;
	const char *v = get_str(c, s, path, file ? 4096 :
				CONFIG_MAX_TEMPLATE + 1), *name = c->name;
	char why[1024], *text = NULL;
	size_t len;
	int line0 = -line_of(s); /* inline: "FILE:L: template line N:" */

	if (v == NULL)
		return;
	if (file && config_setting_get_member(config_setting_parent(s),
					      "template") != NULL) {
		error_at(c, line_of(s), "%s: template and template_file are "
			 "both set; keep one", path);
		return;
	}
	if (file) {
		if (*v == '\0') {
			error_at(c, line_of(s), "%s: must not be empty", path);
			return;
		}
		if ((text = read_template(v, &len, why, sizeof(why))) == NULL) {
			error_at(c, line_of(s), "%s: cannot read %s: %s", path,
				 v, why);
			return;
		}
		name = v;
		line0 = 1;
		v = text;
	} else {
		len = strlen(v);
		if (len > CONFIG_MAX_TEMPLATE) {
			error_at(c, line_of(s), "%s: too long (max %d bytes)",
				 path, CONFIG_MAX_TEMPLATE);
			return;
		}
	}
	if (len == 0) {
		error_at(c, line_of(s), "%s: the template is empty", path);
	} else if (template_check_text(v, len, name, line0, why,
				       sizeof(why)) != 0) {
		error_raw(c, why);
	} else if (cfg->tpl_used + len + 1 > sizeof(cfg->tpl_pool)) {
		error_at(c, line_of(s), "%s: templates too large in total "
			 "(max %zu bytes)", path, sizeof(cfg->tpl_pool) - 1);
	} else {
		memcpy(cfg->tpl_pool + cfg->tpl_used, v, len + 1);
		ref->off = (uint32_t)cfg->tpl_used;
		ref->len = (uint32_t)len;
		cfg->tpl_used += len + 1;
	}
	free(text);
}

/* The text of a quoted default without its quotes, in dst. */
static const char *unquote(char *dst, size_t size, const char *def)
{
	size_t n = strlen(def);

	if (n >= 2 && def[0] == '"' && def[n - 1] == '"')
		def++, n -= 2;
	if (n >= size)
		n = size - 1;
	memcpy(dst, def, n);
	dst[n] = '\0';
	return dst;
}

/* Stores k's default (k->def, in config-file syntax) at base + k->off.
 * Lists default to empty, which the zeroed struct already is. */
static void key_default(const struct key *k, void *base)
{
	char *field = (char *)base + k->off, v[256];

	if (k->def == NULL)
		return;
	unquote(v, sizeof(v), k->def);
	switch (k->kind) {
	case K_INT:
		*(int *)(void *)field = (int)strtol(v, NULL, 10);
		break;
	case K_INT64:
		*(int64_t *)(void *)field = strtoll(v, NULL, 10);
		break;
	case K_SIZE:
		*(size_t *)(void *)field = (size_t)strtoull(v, NULL, 10);
		break;
	case K_NUM:
		*(double *)(void *)field = strtod(v, NULL);
		break;
	case K_BOOL:
		*(int *)(void *)field = strcmp(v, "true") == 0;
		break;
	case K_STR:
	case K_PATH:
	case K_URL:
	case K_PROXY:
	case K_TZ:
		str_copy(field, v, k->size);
		break;
	case K_MODE:
		*(mode_t *)(void *)field = (mode_t)strtol(v, NULL, 8);
		break;
	case K_SEVERITY:
		*(int *)(void *)field = severity_parse(v);
		break;
	case K_LOGLEVEL:
		for (size_t i = 0; i < ARRAY_LEN(log_level_names); i++)
			if (strcmp(v, log_level_names[i]) == 0)
				*(int *)(void *)field = LOG_LVL_ERROR + (int)i;
		break;
	case K_KEYSCOPE:
		for (size_t i = 0; i < ARRAY_LEN(key_scope_names); i++)
			if (strcmp(v, key_scope_names[i]) == 0)
				*(int *)(void *)field = (int)i;
		break;
	case K_CHATS:
	case K_USERS:
	case K_UIDS:
	case K_TOKEN:
	case K_TOKENFILE:
	case K_LISTEN:
	case K_HTTPTOKENFILE:
	case K_TEMPLATE:
	case K_TEMPLATEFILE:
	case K_LABELS:
	case K_SECRETFILE:
		break;
	case K_URLS:
	case K_NAMES:
		strlist_default(k, base);
		break;
	}
}

static void keys_default(const struct key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++)
		key_default(&keys[i], base);
}

/* A time zone name, loaded once to know that it works. */
static void get_tz(struct ctx *c, const config_setting_t *s,
		   const char *path, char *field, size_t size)
{
	const char *sv = get_str(c, s, path, size);
	char why[256];
	struct tz *z;

	if (sv == NULL)
		return;
	if (tz_load(&z, sv, why, sizeof(why)) != 0) {
		error_at(c, line_of(s), "%s: %s", path, why);
		return;
	}
	tz_free(z);
	str_copy(field, sv, size);
}

/* Checks one setting against its key and stores it at base + k->off. */
static void check_key(struct ctx *c, const config_setting_t *s,
		      const char *path, const struct key *k, void *base)
{
	char *field = (char *)base + k->off;
	long long iv;
	double dv;
	const char *sv;

	switch (k->kind) {
	case K_INT:
		if (get_int(c, s, path, (long long)k->lo, (long long)k->hi,
			    &iv) == 0)
			*(int *)(void *)field = (int)iv;
		break;
	case K_PROXY:
		get_proxy(c, s, path, field, k->size);
		break;
	case K_TEMPLATE:
	case K_TEMPLATEFILE:
		get_template(c, s, path, (struct tpl_ref *)(void *)field,
			     k->kind == K_TEMPLATEFILE);
		break;
	case K_LABELS:
		get_labels(c, s, path, k, base);
		break;
	case K_URLS:
	case K_NAMES:
		get_strlist(c, s, path, k, base);
		break;
	case K_SECRETFILE:
		get_secret_file(c, s, path, field, k->size);
		break;
	case K_INT64:
		if (get_int(c, s, path, (long long)k->lo, INT64_MAX, &iv) == 0)
			*(int64_t *)(void *)field = iv;
		break;
	case K_SIZE:
		if (get_int(c, s, path, (long long)k->lo, (long long)k->hi,
			    &iv) == 0)
			*(size_t *)(void *)field = (size_t)iv;
		break;
	case K_NUM:
		if (get_num(c, s, path, k->lo, k->hi, &dv) == 0)
			*(double *)(void *)field = dv;
		break;
	case K_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			wrong_type(c, s, path, "true or false");
		else
			*(int *)(void *)field = config_setting_get_bool(s) != 0;
		break;
	case K_STR:
	case K_PATH:
		if ((sv = get_str(c, s, path, k->size)) == NULL)
			break;
		if (k->kind == K_PATH && *sv == '\0')
			error_at(c, line_of(s), "%s: must not be empty", path);
		else
			str_copy(field, sv, k->size);
		break;
	case K_URL:
		get_url(c, s, path, field, k->size);
		break;
	case K_CHATS:
	case K_USERS:
	case K_UIDS:
		get_ids(c, s, path, k, base);
		if (k->kind == K_CHATS && base == (void *)c->cfg) {
			c->chats_line = line_of(s);
			c->chats_len = config_setting_is_aggregate(s) ?
			    config_setting_length(s) : -1;
		}
		break;
	case K_MODE:
		get_mode(c, s, path, (mode_t *)(void *)field);
		break;
	case K_SEVERITY:
		get_severity(c, s, path, (int *)(void *)field);
		break;
	case K_LOGLEVEL:
		get_loglevel(c, s, path, (int *)(void *)field);
		break;
	case K_KEYSCOPE:
		get_keyscope(c, s, path, (int *)(void *)field);
		break;
	case K_TOKEN:
		/* Too long is reported as "not a bot token" later, without
		 * quoting it. */
		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			wrong_type(c, s, path, "a string");
			c->token_refused = 1;
			break;
		}
		sv = config_setting_get_string(s);
		c->token_line = line_of(s);
		if (strlen(sv ? sv : "") >= sizeof(c->token))
			str_copy(c->token, "!", sizeof(c->token));
		else
			str_copy(c->token, sv ? sv : "", sizeof(c->token));
		break;
	case K_TOKENFILE:
		if ((sv = get_str(c, s, path, sizeof(c->token_file))) == NULL) {
			c->token_refused = 1;
			break;
		}
		if (*sv == '\0') {
			error_at(c, line_of(s), "%s: must not be empty", path);
			c->token_refused = 1;
			break;
		}
		c->token_file_line = line_of(s);
		str_copy(c->token_file, sv, sizeof(c->token_file));
		break;
	case K_LISTEN:
		get_listen(c, s, path, field, k->size);
		break;
	case K_TZ:
		get_tz(c, s, path, field, k->size);
		break;
	case K_HTTPTOKENFILE:
		if ((sv = get_str(c, s, path, sizeof(c->http_token_file))) ==
		    NULL)
			break;
		if (*sv == '\0') {
			error_at(c, line_of(s), "%s: must not be empty", path);
			break;
		}
		c->http_token_file_line = line_of(s);
		str_copy(c->http_token_file, sv, sizeof(c->http_token_file));
		break;
	}
}

/* Checks every member of group g against keys; prefix names the group. */
static void check_group(struct ctx *c, const config_setting_t *g,
			const char *prefix, const struct key *keys,
			size_t nkeys, void *base)
{
	int n = config_setting_length(g);
	char path[192];

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = s ? config_setting_name(s) : NULL;
		size_t j;

		if (name == NULL)
			continue;
		for (j = 0; j < nkeys && strcmp(keys[j].name, name) != 0; j++)
			;
		if (j == nkeys) {
			unknown_key(c, s, prefix, keys, nkeys, sizeof(keys[0]));
			continue;
		}
		snprintf(path, sizeof(path), "%s.%s", prefix, name);
		check_key(c, s, path, &keys[j], base);
	}
}

static void check_routes(struct ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	int t = config_setting_type(s), n;
	char prefix[32];

	n = config_setting_length(s);
	/* "routes = [];" parses as an empty array: as good as an empty list */
	if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && n == 0)) {
		wrong_type(c, s, "routes", "a list of groups like "
			   "( { chats = [ -100123 ]; } )");
		return;
	}
	if (n > CONFIG_MAX_ROUTES) {
		error_at(c, line_of(s), "routes: too many routes (%d, max %d)",
			 n, CONFIG_MAX_ROUTES);
		n = CONFIG_MAX_ROUTES;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i), *cs;
		struct route *r = &cfg->routes[cfg->nroutes];

		if (g == NULL)
			break;
		snprintf(prefix, sizeof(prefix), "routes[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			wrong_type(c, g, prefix, "a group like "
				   "{ chats = [ -100123 ]; }");
			continue;
		}
		memset(r, 0, sizeof(*r));
		keys_default(route_keys, ARRAY_LEN(route_keys), r);
		check_group(c, g, prefix, route_keys, ARRAY_LEN(route_keys), r);
		cs = config_setting_get_member(g, "chats");
		if (cs == NULL)
			error_at(c, line_of(g), "%s.chats: required (the chats "
				 "this route sends to)", prefix);
		else if (config_setting_is_aggregate(cs) &&
			 config_setting_length(cs) == 0)
			error_at(c, line_of(cs), "%s.chats: must not be empty",
				 prefix);
		cfg->nroutes++;
	}
}

/* ---- the token --------------------------------------------------------- */

/* <digits>:<secret of [A-Za-z0-9_-]>; never quoted anywhere. */
static int token_ok(const char *t)
{
	const char *p = t;

	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != ':' || *p == '\0')
		return 0;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return strlen(t) < sizeof(((struct config *)0)->token);
}

/* A token_file value as messages may quote it. A value with a ':' may
 * be the token itself, pasted into the wrong key: it is never shown. */
static const char *token_file_shown(const char *path)
{
	return strchr(path, ':') != NULL ?
	    "(a name that looks like a token, not shown)" : path;
}

/* Reads the first line of the token file path (set at line) into dst;
 * 0, or -1 with the reason in why. */
static int read_token_file(struct ctx *c, const char *path, int line,
			   char *dst, size_t size, char *why, size_t whylen)
{
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd;

	/* O_NONBLOCK: a FIFO or device named here must not hang the load. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		close(fd);
		return -1;
	}
	if (st.st_mode & 077)
		warn_at(c, line, "warning: token file %s is readable by group "
			"or others; chmod 600 it", token_file_shown(path));
	while (len + 1 < size) {
		r = read(fd, dst + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	dst[len] = '\0';
	dst[strcspn(dst, "\n")] = '\0';
	len = strlen(dst);
	while (len > 0 && isspace((unsigned char)dst[len - 1]))
		dst[--len] = '\0';
	if (len == 0) {
		snprintf(why, whylen, "the first line is empty");
		return -1;
	}
	return 0;
}

static void resolve_token(struct ctx *c)
{
	struct config *cfg = c->cfg;
	char buf[512], why[256];

	/* `opsbot send` reads the config as the sender: an inline token in
	 * a file the senders' group can read is theirs. */
	if (c->token_line && c->file_mode >= 0 && (c->file_mode & 077))
		warn_at(c, c->token_line, "warning: telegram.token is in a "
			"file readable by group or others (mode %04o): "
			"everyone who can read it, alert senders included, has "
			"the bot token; move it to telegram.token_file (a file "
			"only the daemon's user can read, mode 0600)",
			c->file_mode & 07777);

	if (c->token_line && c->token_file_line)
		warn_at(c, c->token_line, "warning: both telegram.token and "
			"telegram.token_file are set; token_file wins");
	if (c->env_token != NULL && *c->env_token != '\0') {
		if (!token_ok(c->env_token)) {
			error_at(c, 0, "OPSBOT_TOKEN: not a bot token "
				 "(expected 123456:ABC...)");
			return;
		}
		str_copy(cfg->token, c->env_token, sizeof(cfg->token));
		str_copy(cfg->token_source, "OPSBOT_TOKEN",
			 sizeof(cfg->token_source));
	} else if (c->token_file_line) {
		if (read_token_file(c, c->token_file, c->token_file_line, buf,
				    sizeof(buf), why, sizeof(why)) < 0) {
			error_at(c, c->token_file_line, "telegram.token_file: "
				 "cannot read %s: %s", token_file_shown(c->token_file), why);
		} else if (!token_ok(buf)) {
			error_at(c, c->token_file_line, "telegram.token_file: "
				 "%s does not hold a bot token (expected "
				 "123456:ABC...)", token_file_shown(c->token_file));
		} else {
			str_copy(cfg->token, buf, sizeof(cfg->token));
			str_copy(cfg->token_source, "token_file",
				 sizeof(cfg->token_source));
		}
		explicit_bzero(buf, sizeof(buf));
	} else if (c->token_line) {
		if (!token_ok(c->token)) {
			error_at(c, c->token_line, "telegram.token: not a bot "
				 "token (expected 123456:ABC...)");
			return;
		}
		str_copy(cfg->token, c->token, sizeof(cfg->token));
		str_copy(cfg->token_source, "token", sizeof(cfg->token_source));
	} else if (!c->token_refused) {
		error_at(c, 0, "telegram.token: no bot token (set "
			 "OPSBOT_TOKEN, telegram.token_file or "
			 "telegram.token)");
	}
}

/* ---- the HTTP token ------------------------------------------------------ */

/* A bearer token: printable ASCII without spaces, shorter than the field;
 * never quoted anywhere. */
static int http_token_ok(const char *t)
{
	for (const char *p = t; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return *t != '\0' && strlen(t) < sizeof(((struct config *)0)->http_token);
}

/* Reads http.token_file, then: a listen address that is not loopback
 * needs a token. */
static void resolve_http(struct ctx *c)
{
	struct config *cfg = c->cfg;
	char buf[512], why[256];

	if (c->http_token_file_line) {
		if (read_token_file(c, c->http_token_file,
				    c->http_token_file_line, buf, sizeof(buf),
				    why, sizeof(why)) < 0)
			error_at(c, c->http_token_file_line, "http.token_file: "
				 "cannot read %s: %s", c->http_token_file, why);
		else if (!http_token_ok(buf))
			error_at(c, c->http_token_file_line, "http.token_file: "
				 "%s does not hold a usable token (one line of "
				 "printable characters without spaces, at most "
				 "%zu)", c->http_token_file,
				 sizeof(cfg->http_token) - 1);
		else
			str_copy(cfg->http_token, buf, sizeof(cfg->http_token));
		explicit_bzero(buf, sizeof(buf));
	}
	if (c->http_listen_line && !c->http_loopback &&
	    !c->http_token_file_line)
		error_at(c, c->http_listen_line, "http.listen: %s is not a "
			 "loopback address; set http.token_file",
			 cfg->http_listen);
}

/* ---- integer widening -------------------------------------------------- */

/* 1 if p (n bytes) starts a libconfig number: 5, -5, +.5, .5 */
static int starts_number(const char *p, size_t n)
{
	size_t k = 0;

	if (n > 0 && (p[0] == '-' || p[0] == '+'))
		k++;
	if (k < n && isdigit((unsigned char)p[k]))
		return 1;
	return k + 1 < n && p[k] == '.' && isdigit((unsigned char)p[k + 1]);
}

/* Scans the number at in[i]: returns the index after it, says whether it
 * is a float and whether an integer overflows 64 bits. */
static size_t scan_number(const char *in, size_t len, size_t i,
			  int *isfloat, int *over)
{
	unsigned long long v = 0, max = 9223372036854775807ULL;
	size_t digits = 0;

	*isfloat = *over = 0;
	if (in[i] == '-')
		max++; /* INT64_MIN has one more */
	if (in[i] == '-' || in[i] == '+')
		i++;
	if (i + 2 < len && in[i] == '0' && (in[i + 1] == 'x' ||
	    in[i + 1] == 'X') && isxdigit((unsigned char)in[i + 2])) {
		for (i += 2; i < len && in[i] == '0'; i++)
			;
		for (; i < len && isxdigit((unsigned char)in[i]); i++)
			*over |= ++digits > 16;
		return i;
	}
	for (; i < len && isdigit((unsigned char)in[i]); i++) {
		unsigned d = (unsigned)(in[i] - '0');

		if (v > (max - d) / 10)
			*over = 1;
		else
			v = v * 10 + d;
	}
	if (i < len && (in[i] == '.' || in[i] == 'e' || in[i] == 'E')) {
		*isfloat = 1;
		*over = 0;
		while (i < len && (isdigit((unsigned char)in[i]) ||
				   strchr(".eE", in[i]) != NULL ||
				   ((in[i] == '-' || in[i] == '+') &&
				    (in[i - 1] == 'e' || in[i - 1] == 'E'))))
			i++;
	}
	return i;
}

/* libconfig 1.5 silently truncates an integer literal that does not fit in
 * 32 bits unless it carries an L suffix (-1001234567890 would become some
 * other chat id), and refuses arrays that mix 32- and 64-bit integers. So,
 * before parsing, every integer literal without a suffix gets an L: every
 * integer is then 64-bit. Strings and comments are copied untouched and no
 * newline moves, so line numbers stay right. @include is neutralised
 * (turned into a comment) and reported: one file is the whole truth, and
 * the fuzz target must not read files. Returns a malloc'ed string or NULL
 * when out of memory. */
static char *widen_ints(struct ctx *c, const char *in, int *fatal)
{
	size_t len = strlen(in), i = 0, o = 0;
	char *out = malloc(2 * len + 1);
	int line = 1;

	if (out == NULL)
		return NULL;
#define PEEK(k) (i + (k) < len ? in[i + (k)] : '\0')
	while (i < len) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '"') {
			out[o++] = in[i++];
			while (i < len && in[i] != '"') {
				if (in[i] == '\n')
					line++;
				if (in[i] == '\\' && i + 1 < len) {
					if (in[i + 1] == '\n')
						line++;
					out[o++] = in[i++];
				}
				out[o++] = in[i++];
			}
			if (i < len)
				out[o++] = in[i++];
		} else if (ch == '#' || (ch == '/' && PEEK(1) == '/')) {
			while (i < len && in[i] != '\n')
				out[o++] = in[i++];
		} else if (ch == '/' && PEEK(1) == '*') {
			out[o++] = in[i++];
			out[o++] = in[i++];
			while (i < len && !(in[i] == '*' && PEEK(1) == '/')) {
				if (in[i] == '\n')
					line++;
				out[o++] = in[i++];
			}
			for (int k = 0; k < 2 && i < len; k++)
				out[o++] = in[i++]; /* the closing star-slash */
		} else if (ch == '@') {
			if (strncmp(in + i, "@include", 8) == 0) {
				error_at(c, line, "@include is not supported: "
					 "keep the whole configuration in one "
					 "file");
				*fatal = 1;
			}
			out[o++] = '#';
			i++;
		} else if (isalpha(ch) || ch == '*' || ch == '_') {
			while (i < len && (isalnum((unsigned char)in[i]) ||
					   strchr("-_*", in[i]) != NULL))
				out[o++] = in[i++];
		} else if (starts_number(in + i, len - i)) {
			size_t start = i;
			int isfloat, over;

			i = scan_number(in, len, i, &isfloat, &over);
			memcpy(out + o, in + start, i - start);
			o += i - start;
			if (over) {
				error_at(c, line, "integer out of range (more "
					 "than 64 bits)");
				*fatal = 1;
			}
			if (!isfloat && (i >= len || in[i] != 'L'))
				out[o++] = 'L';
		} else {
			if (ch == '\n')
				line++;
			out[o++] = in[i++];
		}
	}
#undef PEEK
	out[o] = '\0';
	return out;
}

/* ---- loading ----------------------------------------------------------- */

static void check_root(struct ctx *c, const config_setting_t *root)
{
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, i);
		const char *name = s ? config_setting_name(s) : NULL;
		size_t j;

		if (name == NULL)
			continue;
		for (j = 0; j < ARRAY_LEN(sections) &&
		     strcmp(sections[j].name, name) != 0; j++)
			;
		if (j == ARRAY_LEN(sections)) {
			unknown_key(c, s, "", sections, ARRAY_LEN(sections),
				    sizeof(sections[0]));
		} else if (sections[j].keys == NULL) {
			check_routes(c, s);
		} else if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			wrong_type(c, s, name, "a group like { ... }");
		} else {
			check_group(c, s, name, sections[j].keys,
				    sections[j].nkeys, c->cfg);
		}
	}
}

/* A relay section makes this daemon a relay (relay.alertmanager set)
 * that forwards into Alertmanager and never talks to Telegram: it must
 * name its peers, and then has no chats. Returns 1 when the file means a
 * relay (a relay section and no chats): Telegram keys are not needed. */
static int check_relay(struct ctx *c, config_t *lc)
{
	const config_setting_t *r = config_lookup(lc, "relay");
	const config_setting_t *p = config_lookup(lc, "relay.alertmanager");

	if (r == NULL || config_setting_type(r) != CONFIG_TYPE_GROUP)
		return 0;
	if (!c->cfg->relay && c->chats_line < 0 &&
	    (p == NULL || config_setting_is_aggregate(p)))
		error_at(c, line_of(p ? p : r), "relay.alertmanager: required "
			 "in relay mode: the Alertmanager URLs to forward to, "
			 "like [ \"http://am1:9093\" ]");
	if (c->cfg->relay && c->chats_line >= 0)
		error_at(c, c->chats_line, "telegram.chats: a relay "
			 "(relay.alertmanager is set) forwards to Alertmanager "
			 "and sends nothing to Telegram; remove telegram.chats "
			 "or the relay section");
	return c->chats_line < 0;
}

/* user and password_file come together. */
static void check_basic_auth(struct ctx *c, config_t *lc, const char *sec,
			     const char *user, const char *password)
{
	const config_setting_t *g = config_lookup(lc, sec), *s;

	if ((*user != '\0') == (*password != '\0') || g == NULL ||
	    config_setting_type(g) != CONFIG_TYPE_GROUP)
		return;
	/* a password_file that could not be read is reported already */
	if (config_setting_get_member(g, "password_file") != NULL && *user)
		return;
	s = config_setting_get_member(g, *user ? "user" : "password_file");
	error_at(c, s ? line_of(s) : line_of(g), "%s: basic auth needs both "
		 "%s.user and %s.password_file", sec, sec, sec);
}

/* Cross-key rules, once every key is in. */
static void check_whole(struct ctx *c, config_t *lc)
{
	struct config *cfg = c->cfg;
	const config_setting_t *s;
	int relay;

	cfg->relay = cfg->relay_npeers > 0;
	relay = check_relay(c, lc);
	check_basic_auth(c, lc, "alertmanager", cfg->am_user,
			 cfg->am_password);
	check_basic_auth(c, lc, "relay", cfg->relay_user,
			 cfg->relay_password);
	/* An absent or empty list; entries that were refused are reported
	 * already. A relay has no chats. */
	if (relay)
		;
	else if (c->chats_line < 0)
		error_at(c, 0, "telegram.chats: required: at least one chat id "
			 "(groups are negative, supergroups -100...)");
	else if (c->chats_len == 0)
		error_at(c, c->chats_line, "telegram.chats: must not be empty");
	if (cfg->retry_cap < cfg->retry_base) {
		s = config_lookup(lc, "retry.cap");
		if (s == NULL)
			s = config_lookup(lc, "retry.base");
		error_at(c, s ? line_of(s) : 0, "retry.cap: %g is less than "
			 "retry.base (%g)", cfg->retry_cap, cfg->retry_base);
	}
	/* A relay never talks to Telegram: a token is not needed. */
	if (!relay)
		resolve_token(c);
	resolve_http(c);
}

static int load_text(struct config *cfg, const char *text, const char *name,
		     const char *env_token, char *err, size_t errlen,
		     char *warn, size_t warnlen, int file_mode)
{
	struct ctx *c;
	config_t lc;
	char *wide;
	int fatal = 0, rc;

	if (err && errlen)
		err[0] = '\0';
	if (warn && warnlen)
		warn[0] = '\0';
	/* The ctx holds two path-sized buffers: keep them off the stack. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	c->cfg = cfg;
	c->name = name;
	c->env_token = env_token;
	c->err = err;
	c->errlen = errlen;
	c->warn = warn;
	c->warnlen = warnlen;
	c->chats_line = -1;
	c->file_mode = file_mode;

	if (strlen(text) > CONFIG_MAX_TEXT) {
		error_at(c, 0, "too large (max %d bytes)", CONFIG_MAX_TEXT);
		goto out;
	}
	if ((wide = widen_ints(c, text, &fatal)) == NULL) {
		error_at(c, 0, "out of memory");
		goto out;
	}
	config_init(&lc);
	if (config_read_string(&lc, wide) != CONFIG_TRUE) {
		const char *why = config_error_text(&lc);

		error_at(c, config_error_line(&lc), "syntax error: %s",
			 why ? why : "unknown");
	} else if (!fatal) {
		check_root(c, config_root_setting(&lc));
		check_whole(c, &lc);
	}
	config_destroy(&lc);
	free(wide);
out:
	rc = c->nerr ? -1 : 0;
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
	return rc;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < ARRAY_LEN(sections); i++)
		keys_default(sections[i].keys, sections[i].nkeys, cfg);
}

int config_load_string(struct config *cfg, const char *text, const char *name,
		       const char *env_token, char *err, size_t errlen,
		       char *warn, size_t warnlen)
{
	if (name == NULL)
		name = "<string>";
	config_defaults(cfg);
	str_copy(cfg->path, name, sizeof(cfg->path));
	return load_text(cfg, text ? text : "", name, env_token, err, errlen,
			 warn, warnlen, -1);
}

/* Reads the whole file, at most CONFIG_MAX_TEXT bytes; a NUL byte would
 * silently end libconfig's parse, so it is refused. */
static char *read_file(const char *path, int *mode, char *err,
		       size_t errlen)
{
	struct stat st;
	size_t len = 0, cap = CONFIG_MAX_TEXT + 2;
	char *text;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return NULL;
	}
	*mode = fstat(fd, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
	if ((text = malloc(cap)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (len + 1 < cap) {
		r = read(fd, text + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	fd = -1;
	text[len] = '\0';
	if (len > CONFIG_MAX_TEXT) {
		snprintf(err, errlen, "%s: too large (max %d bytes)", path,
			 CONFIG_MAX_TEXT);
		goto fail;
	}
	if (strlen(text) != len) {
		int line = 1;

		for (const char *p = text; *p; p++)
			line += *p == '\n';
		snprintf(err, errlen, "%s:%d: NUL byte in file", path, line);
		goto fail;
	}
	return text;
fail:
	if (fd >= 0)
		close(fd);
	free(text);
	return NULL;
}

int config_load(struct config *cfg, const char *path, const char *env_token,
		char *err, size_t errlen, char *warn, size_t warnlen)
{
	char dummy[1], *text;
	int rc, mode;

	config_defaults(cfg);
	str_copy(cfg->path, path, sizeof(cfg->path));
	if (warn && warnlen)
		warn[0] = '\0';
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	if ((text = read_file(path, &mode, err, errlen)) == NULL)
		return -1;
	rc = load_text(cfg, text, path, env_token, err, errlen, warn, warnlen,
		       mode);
	free(text);
	return rc;
}

static int has_id(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

int config_is_admin(const struct config *cfg, int64_t user_id)
{
	return has_id(cfg->admins, cfg->nadmins, user_id);
}

int config_is_viewer(const struct config *cfg, int64_t user_id)
{
	return config_is_admin(cfg, user_id) ||
	       has_id(cfg->viewers, cfg->nviewers, user_id);
}

const char *config_template(const struct config *cfg, const struct tpl_ref *t)
{
	if (t == NULL || t->len == 0 ||
	    (size_t)t->off + t->len >= sizeof(cfg->tpl_pool))
		return NULL;
	return cfg->tpl_pool + t->off;
}

int config_is_chat(const struct config *cfg, int64_t chat_id)
{
	if (has_id(cfg->chats, cfg->nchats, chat_id))
		return 1;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route *r = &cfg->routes[i];

		if (has_id(r->chats, r->nchats, chat_id))
			return 1;
	}
	return 0;
}
