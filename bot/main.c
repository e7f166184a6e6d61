/*
 * main.c - opsbot's command line: the daemon (run), check-config, and the
 * two socket clients (send, status).
 *
 *   opsbot [-c FILE] [-v] [run]
 *   opsbot [-c FILE] check-config
 *   opsbot [-c FILE] send [-s SEV] [-S SOURCE] [-t TITLE] [-k KEY]
 *                        [--resolved] [--label k=v]... [--json] TEXT...
 *   opsbot [-c FILE] status [--json]
 *   opsbot [-c FILE] route-test [--render] < alert.json
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alerts/listener.h"
#include "alerts/route.h"
#include "alerts/store.h"
#include "bot/config.h"
#include "bot/daemon.h"
#include "bot/log.h"

#define REPLY_MAX 65536
#define CLIENT_TIMEOUT_MS 30000

static void usage(FILE *f)
{
	fprintf(f,
"usage: opsbot [-c FILE] [-v] [run]\n"
"       opsbot [-c FILE] check-config\n"
"       opsbot [-c FILE] send [-s SEVERITY] [-S SOURCE] [-t TITLE] [-k KEY]\n"
"                             [-u URL] [--resolved] [--label NAME=VALUE]...\n"
"                             TEXT...\n"
"       opsbot [-c FILE] send --json < lines.ndjson\n"
"       opsbot [-c FILE] status [--json]\n"
"       opsbot [-c FILE] route-test [--render] < alert.json\n"
"\n"
"  -c FILE      configuration (default: ./bot.conf, then /etc/opsbot/bot.conf)\n"
"  send: -s/--severity, -S/--source, -t/--title, -k/--key, -u/--url,\n"
"        --resolved, --label NAME=VALUE (repeatable), --json (stdin lines)\n"
"  -v           more logging (debug)\n"
"  --help       this text\n"
"  --version    print the version\n"
"\n"
"Severities: critical, error, warning, info (default), debug.\n");
}

static const char *config_path(const char *given)
{
	if (given)
		return given;
	if (access("bot.conf", F_OK) == 0)
		return "bot.conf";
	return "/etc/opsbot/bot.conf";
}

/* Loads the config or exits 1 printing every problem, like check-config.
 * The socket clients (client = 1) need only socket.path: a placeholder
 * token keeps config_load from reading the token file, which the users
 * allowed to send alerts should not be able to read. */
static void config_or_exit(struct config *cfg, const char *path, int client)
{
	char err[8192], warn[2048] = "";
	const char *token = client ? "0:client" : getenv("OPSBOT_TOKEN");

	if (config_load(cfg, path, token, err, sizeof(err), warn,
			sizeof(warn)) != 0) {
		fprintf(stderr, "%s%s", err,
			err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
		exit(1);
	}
	if (warn[0] && !client)
		fprintf(stderr, "%s%s", warn,
			warn[strlen(warn) - 1] == '\n' ? "" : "\n");
}

/* --- socket client --- */

struct client {
	int fd;
	char buf[REPLY_MAX];
	size_t len;
	size_t consumed; /* bytes of buf already handed out as lines */
};

static int client_open(struct client *c, const char *path)
{
	char err[256];

	c->len = 0;
	c->consumed = 0;
	c->fd = listener_connect(path, err, sizeof(err));
	if (c->fd < 0) {
		fprintf(stderr, "opsbot: %s\n", err);
		return -1;
	}
	return 0;
}

static int client_read_line(struct client *c, char **line, int quiet);
static int reply_report(const char *line, int raw);

/* The write failed: the daemon may have refused the connection (too many
 * clients, too many of this uid) with an error line and closed it. That
 * line is still in our receive queue: print it rather than the errno. */
static int client_write_failed(struct client *c, int e)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char *line;

	if (poll(&p, 1, 1000) == 1 && client_read_line(c, &line, 1) == 0) {
		reply_report(line, 0);
		return -1;
	}
	fprintf(stderr, "opsbot: write to socket: %s\n", strerror(e));
	return -1;
}

static int client_write(struct client *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return client_write_failed(c, errno);
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one reply line into *line (in c->buf). 0 ok, -1 error/EOF
 * (reported on stderr unless quiet). */
static int client_read_line(struct client *c, char **line, int quiet)
{
	char *nl;

	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	while ((nl = memchr(c->buf, '\n', c->len)) == NULL) {
		ssize_t r;

		if (c->len >= sizeof(c->buf) - 1) {
			if (!quiet)
				fprintf(stderr, "opsbot: reply too long\n");
			return -1;
		}
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!quiet)
				fprintf(stderr, "opsbot: the daemon closed the "
					"connection without answering\n");
			return -1;
		}
		c->len += (size_t)r;
	}
	*nl = '\0';
	*line = c->buf;
	c->consumed = (size_t)(nl - c->buf) + 1;
	return 0;
}

static int client_line(struct client *c, char **line)
{
	return client_read_line(c, line, 0);
}

/* Prints the id of an ok reply, or the error; 0 if ok. */
static int reply_report(const char *line, int raw)
{
	cJSON *r = cJSON_Parse(line);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(r, "error");
	int rc = cJSON_IsTrue(ok) ? 0 : 1;

	if (raw)
		printf("%s\n", line);
	else if (rc == 0 && cJSON_IsNumber(id))
		printf("%.0f\n", id->valuedouble);
	else
		fprintf(stderr, "opsbot: %s\n", cJSON_IsString(err) ?
			err->valuestring : line);
	cJSON_Delete(r);
	return rc;
}

static int add_label(cJSON *labels, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char name[128];

	if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(name)) {
		fprintf(stderr, "opsbot: --label wants NAME=VALUE, got \"%s\"\n",
			kv);
		return -1;
	}
	memcpy(name, kv, (size_t)(eq - kv));
	name[eq - kv] = '\0';
	cJSON_AddStringToObject(labels, name, eq + 1);
	return 0;
}

static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	char *s;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = calloc(1, n);
	if (s == NULL)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static int send_json_lines(struct client *c)
{
	char *line = NULL, *reply;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (client_write(c, line, (size_t)n) != 0 ||
		    (line[n - 1] != '\n' && client_write(c, "\n", 1) != 0) ||
		    client_line(c, &reply) != 0) {
			rc = 1;
			break;
		}
		rc |= reply_report(reply, 1);
	}
	free(line);
	return rc;
}

static int cmd_send(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "severity", required_argument, NULL, 's' },
		{ "source", required_argument, NULL, 'S' },
		{ "title", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "url", required_argument, NULL, 'u' },
		{ "resolved", no_argument, NULL, 'r' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	cJSON *a = cJSON_CreateObject(), *labels = cJSON_CreateObject();
	struct client c;
	char *line = NULL, *text, *reply;
	int ch, json = 0, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:S:t:k:u:l:", opts, NULL)) != -1) {
		switch (ch) {
		case 's': cJSON_AddStringToObject(a, "severity", optarg); break;
		case 'S': cJSON_AddStringToObject(a, "source", optarg); break;
		case 't': cJSON_AddStringToObject(a, "title", optarg); break;
		case 'k': cJSON_AddStringToObject(a, "key", optarg); break;
		case 'u': cJSON_AddStringToObject(a, "url", optarg); break;
		case 'r': cJSON_AddStringToObject(a, "status", "resolved"); break;
		case 'j': json = 1; break;
		case 'l':
			if (add_label(labels, optarg) != 0)
				goto out;
			break;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (!json && optind >= argc && !cJSON_GetObjectItem(a, "title")) {
		fprintf(stderr, "opsbot: send needs a TEXT (or -t TITLE)\n");
		goto out;
	}
	if (client_open(&c, cfg->socket_path) != 0)
		goto out;
	if (json) {
		rc = send_json_lines(&c);
		close(c.fd);
		goto out;
	}
	if (optind < argc) {
		text = join_args(argc - optind, argv + optind);
		cJSON_AddStringToObject(a, "text", text ? text : "");
		free(text);
	}
	if (labels->child) {
		cJSON_AddItemToObject(a, "labels", labels);
		labels = NULL;
	}
	line = cJSON_PrintUnformatted(a);
	if (line && client_write(&c, line, strlen(line)) == 0 &&
	    client_write(&c, "\n", 1) == 0 && client_line(&c, &reply) == 0)
		rc = reply_report(reply, 0);
	close(c.fd);
out:
	free(line);
	cJSON_Delete(labels);
	cJSON_Delete(a);
	return rc;
}

static void print_status(const cJSON *o, const char *prefix)
{
	for (const cJSON *it = o->child; it; it = it->next) {
		char name[128];

		snprintf(name, sizeof(name), "%s%s", prefix, it->string);
		if (cJSON_IsObject(it)) {
			char p[128];

			snprintf(p, sizeof(p), "%s.", name);
			print_status(it, p);
		} else if (cJSON_IsString(it)) {
			printf("%-36s %s\n", name, it->valuestring);
		} else if (cJSON_IsNumber(it)) {
			printf("%-36s %.0f\n", name, it->valuedouble);
		} else if (cJSON_IsBool(it)) {
			printf("%-36s %s\n", name, cJSON_IsTrue(it) ? "yes" : "no");
		} else {
			char *s = cJSON_PrintUnformatted(it);

			printf("%-36s %s\n", name, s ? s : "?");
			free(s);
		}
	}
}

static int cmd_status(const struct config *cfg, int argc, char **argv)
{
	struct client c;
	char *reply;
	cJSON *r, *st;
	int rc = 1, json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (client_open(&c, cfg->socket_path) != 0)
		return 1;
	if (client_write(&c, "{\"command\":\"status\"}\n", 21) == 0 &&
	    client_line(&c, &reply) == 0) {
		r = cJSON_Parse(reply);
		st = cJSON_GetObjectItemCaseSensitive(r, "status");
		if (json) {
			printf("%s\n", reply);
			rc = st ? 0 : 1;
		} else if (cJSON_IsObject(st)) {
			print_status(st, "");
			rc = 0;
		} else {
			reply_report(reply, 0); /* the daemon's error */
			rc = 1;
		}
		cJSON_Delete(r);
	}
	close(c.fd);
	return rc;
}

/* --- route-test --- */

/* Which setting a template text came from, for route-test's output. */
static const char *template_origin(const struct config *cfg, const char *t,
				   char *buf, size_t len)
{
	if (t == NULL)
		return "built-in layout";
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (config_template(cfg, &cfg->routes[i].tpl) == t) {
			snprintf(buf, len, "routes[%zu] template", i);
			return buf;
		}
	return "delivery template";
}

static void print_parts(const struct config *cfg, const struct alert *a,
			int64_t chat)
{
	char *parts[FORMAT_MAX_PARTS];
	int n = route_format(cfg, a, NULL, chat, 0, parts, FORMAT_MAX_PARTS);

	for (int k = 0; k < n; k++) {
		printf("  --- message part %d/%d ---\n%s\n", k + 1, n, parts[k]);
		free(parts[k]);
	}
}

/* Reads one alert (JSON) from stdin and says where it would go and why,
 * without the daemon: the configuration's routes, nothing else. */
static int cmd_route_test(const struct config *cfg, int argc, char **argv)
{
	struct dest dests[CONFIG_MAX_CHATS * 2];
	char *line = NULL, why[1024], err[256], origin[64];
	size_t cap = 0, n, matched = 0;
	int render = argc > 1 && strcmp(argv[1], "--render") == 0;
	struct alert a;
	ssize_t len;

	if (argc > 1 && !render) {
		usage(stderr);
		return 2;
	}
	len = getdelim(&line, &cap, '\0', stdin);
	if (len <= 0) {
		fprintf(stderr, "opsbot: route-test reads one alert (JSON) "
			"from stdin\n");
		free(line);
		return 1;
	}
	if ((size_t)len > cfg->max_line) {
		fprintf(stderr, "opsbot: line: longer than %zu bytes\n",
			cfg->max_line);
		free(line);
		return 1;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (alert_parse(line, (size_t)len, &a, err, sizeof(err)) != 0) {
		fprintf(stderr, "opsbot: %s\n", err);
		free(line);
		return 1;
	}
	free(line);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		int hit = route_match(&cfg->routes[i], &a, why, sizeof(why));

		matched += hit;
		printf("routes[%zu]: %s: %s\n", i, hit ? "matches" :
		       "does not match", why);
	}
	n = route_dests(cfg, &a, dests, ARRAY_LEN(dests));
	printf("%s:\n", matched ? "destinations" :
	       "destinations: the default chats (telegram.chats), no route "
	       "matched");
	for (size_t i = 0; i < n; i++) {
		const char *t = route_template(cfg, &a, dests[i].chat_id);

		printf("  chat %lld", (long long)dests[i].chat_id);
		if (dests[i].thread_id)
			printf(" thread %lld", (long long)dests[i].thread_id);
		printf(" (%s)\n", template_origin(cfg, t, origin,
						  sizeof(origin)));
		if (render)
			print_parts(cfg, &a, dests[i].chat_id);
	}
	alert_free(&a);
	return 0;
}

/* The token sits in the daemon's memory (and in every request URL): no
 * core file may carry it to disk. */
static void no_core_files(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		log_warn("setrlimit(RLIMIT_CORE)");
}

static int cmd_run(struct config *cfg, int verbose)
{
	struct daemon *d;
	int rc;

	no_core_files();
	if (verbose)
		cfg->log_level = LOG_LVL_DEBUG;
	log_set_level(cfg->log_level);
	log_set_secret(cfg->token);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	if ((d = daemon_new(cfg)) == NULL) {
		curl_global_cleanup();
		return 1;
	}
	rc = daemon_run(d);
	daemon_free(d);
	curl_global_cleanup();
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct config *cfg;
	const char *cfile = NULL, *cmd;
	int ch, verbose = 0, rc;

	/* journald adds its own timestamps */
	log_init(LOG_LVL_INFO, getenv("JOURNAL_STREAM") == NULL);
	while ((ch = getopt_long(argc, argv, "+c:hvV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': cfile = optarg; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("opsbot %s\n", OPSBOT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	cmd = optind < argc ? argv[optind] : "run";
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		fatal("calloc");
	if (strcmp(cmd, "check-config") == 0) {
		config_or_exit(cfg, config_path(cfile), 0);
		printf("configuration OK\n");
		rc = 0;
	} else if (strcmp(cmd, "send") == 0) {
		config_or_exit(cfg, config_path(cfile), 1);
		rc = cmd_send(cfg, argc - optind, argv + optind);
	} else if (strcmp(cmd, "status") == 0) {
		config_or_exit(cfg, config_path(cfile), 1);
		rc = cmd_status(cfg, argc - optind, argv + optind);
	} else if (strcmp(cmd, "route-test") == 0) {
		config_or_exit(cfg, config_path(cfile), 1);
		rc = cmd_route_test(cfg, argc - optind, argv + optind);
	} else if (strcmp(cmd, "run") == 0) {
		config_or_exit(cfg, config_path(cfile), 0);
		rc = cmd_run(cfg, verbose);
	} else {
		fprintf(stderr, "opsbot: unknown command \"%s\"\n", cmd);
		usage(stderr);
		rc = 2;
	}
	explicit_bzero(cfg->token, sizeof(cfg->token));
	explicit_bzero(cfg->http_token, sizeof(cfg->http_token));
	redact_set_secret(NULL); /* wipes the redactor's copy */
	free(cfg);
	return rc;
}
