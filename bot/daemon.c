/*
 * daemon.c - builds the daemon from its configuration and runs the loop
 * (loop.h) over its sources, in this order each turn:
 *
 *   signals -> socket (intake) -> transfers (harvest answers) ->
 *   watchdog -> dispatch -> poller -> housekeeping -> commit ->
 *   committed: socket answers, outbox, dispatch's journal, mutes,
 *   poller offset
 *
 * It owns the context below and is the only file that sees it; modules
 * get their collaborators through their *_deps structs. See daemon.h.
 */
#include "bot/daemon.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alerts/store.h"
#include "bot/amclient.h"
#include "bot/api.h"
#include "bot/chats.h"
#include "commands/commands.h"
#include "commands/poller.h"
#include "bot/config.h"
#include "bot/dispatch.h"
#include "bot/httpin.h"
#include "bot/intake.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/mutes.h"
#include "bot/outbox.h"
#include "bot/pacing.h"
#include "bot/proxy.h"
#include "bot/relay.h"
#include "bot/sockin.h"
#include "bot/stats.h"
#include "bot/telegram.h"
#include "bot/xfer.h"

#define HOUSEKEEPING_MS 60000
#define PRUNE_BATCH 500
#define STOP_GRACE_MS 5000
#define AUTH_RETRY_MS 300000

struct daemon {
	struct config cfg;
	const struct clock *clk; /* the loop's */
	struct loop *loop;
	struct store *store;
	struct xfer *xfer;
	struct tg *tg;
	struct ratelimit *rl;
	struct api *api;
	struct rng rng;
	struct stats stats;
	struct chats *chats;
	struct mutes *mutes;
	struct dispatch *dispatch;
	struct outbox *outbox;   /* dispatch's */
	struct intake *intake;
	struct sockin *sockin;
	struct httpin *httpin;   /* NULL unless http.listen is set */
	struct amclient *am;     /* NULL unless alertmanager.urls is set */
	struct relay *relay;     /* relay mode only */
	struct cmd_silence_turn silence_turn;
	struct poller *poller;
	struct cmd_deps cmds;

	int64_t started_now, started_wall;
	int commit_failed;       /* the last commit failed: /healthz says so */
	char commit_err[256];
	int sigfd[2];            /* self-pipe: handlers write, the loop reads */
	int stopping;            /* SIGTERM/SIGINT seen */
	int64_t stop_deadline;
	int64_t next_housekeeping;
	int64_t watchdog_ms;     /* systemd WatchdogSec/2, 0 = off */
	int64_t next_watchdog;
};

static volatile sig_atomic_t got_sigterm, got_sighup;
static int sigfd_w = -1;

static struct cJSON *daemon_status_json(void *arg);

/* --- signals: the handler only sets a flag and wakes the loop --- */

static void on_signal(int sig)
{
	int saved = errno;
	char c = 1;

	if (sig == SIGHUP)
		got_sighup = 1;
	else
		got_sigterm = 1;
	if (sigfd_w >= 0 && write(sigfd_w, &c, 1) < 0) {
		/* pipe full: a wake-up is already pending */
	}
	errno = saved;
}

static int signals_init(struct daemon *d)
{
	struct sigaction sa;

	if (pipe2(d->sigfd, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_warn("pipe2");
		return -1;
	}
	sigfd_w = d->sigfd[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static struct api_opts api_opts_of(const struct config *c)
{
	struct api_opts o = {
		.breaker_threshold = c->breaker_threshold,
		.retry_base_ms = (int64_t)(c->retry_base * 1000),
		.retry_cap_ms = (int64_t)(c->retry_cap * 1000),
		.retry_after_cap = c->retry_after_cap,
		.auth_retry_ms = AUTH_RETRY_MS,
	};

	return o;
}

/* SIGHUP: the new config replaces the running one only if it is valid.
 * Socket and store paths and the limits need a restart; the rest, the
 * token (token_file re-read) included, applies at once. */
static void config_reload(struct daemon *d)
{
	struct config *nc = malloc(sizeof(*nc));
	char err[4096], warn[1024] = "";
	struct api_opts ao;

	if (nc == NULL)
		return;
	if (config_load(nc, d->cfg.path, getenv("OPSBOT_TOKEN"), err,
			sizeof(err), warn, sizeof(warn)) != 0) {
		log_error("reload of %s failed, keeping the running "
			  "configuration:\n%s", d->cfg.path, err);
		free(nc);
		return;
	}
	if (warn[0])
		log_warnx("%s", warn);
	if (strcmp(nc->socket_path, d->cfg.socket_path) != 0 ||
	    strcmp(nc->store_path, d->cfg.store_path) != 0 ||
	    nc->global_per_second != d->cfg.global_per_second ||
	    nc->group_per_minute != d->cfg.group_per_minute ||
	    nc->chat_per_second != d->cfg.chat_per_second)
		log_warnx("socket, store and limits changes take effect after "
			  "a restart");
	if (tg_set_token(d->tg, nc->api_url, nc->token, err,
			 sizeof(err)) != 0) {
		log_error("reload: %s; keeping the running token and api_url",
			  err);
		str_copy(nc->token, d->cfg.token, sizeof(nc->token));
		str_copy(nc->api_url, d->cfg.api_url, sizeof(nc->api_url));
	}
	str_copy(nc->socket_path, d->cfg.socket_path, sizeof(nc->socket_path));
	str_copy(nc->store_path, d->cfg.store_path, sizeof(nc->store_path));
	log_set_secret(nc->token);
	if (strcmp(nc->http_listen, d->cfg.http_listen) != 0 ||
	    strcmp(nc->http_token, d->cfg.http_token) != 0)
		log_warnx("http.listen and http.token_file changes take effect "
			  "after a restart");
	str_copy(nc->http_listen, d->cfg.http_listen, sizeof(nc->http_listen));
	str_copy(nc->http_token, d->cfg.http_token, sizeof(nc->http_token));
	explicit_bzero(d->cfg.token, sizeof(d->cfg.token));
	explicit_bzero(d->cfg.http_token, sizeof(d->cfg.http_token));
	d->cfg = *nc;
	explicit_bzero(nc, sizeof(*nc));
	free(nc);
	chats_load(d->chats, &d->cfg); /* new destination chats */
	ao = api_opts_of(&d->cfg);
	api_configure(d->api, &ao);
	log_set_level(d->cfg.log_level);
	api_retry_now(d->api); /* a new token may fix a 401 */
	log_info("configuration reloaded from %s", d->cfg.path);
}

static void signals_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct daemon *d = arg;
	char buf[64];

	while (read(d->sigfd[0], buf, sizeof(buf)) > 0)
		;
	if (got_sighup) {
		got_sighup = 0;
		config_reload(d);
	}
	if (got_sigterm && !d->stopping) {
		d->stopping = 1;
		d->stop_deadline = d->clk->now + STOP_GRACE_MS;
		sockin_stop(d->sockin);
		loop_stop(d->loop);
		log_info("stopping: finishing %d request(s) in flight (up to "
			 "5 s)", dispatch_inflight(d->dispatch));
		sd_notify(0, "STOPPING=1");
	}
}

static size_t signals_pollfds(void *arg, struct pollfd *fds, size_t max)
{
	struct daemon *d = arg;

	fds[0].fd = d->sigfd[0];
	fds[0].events = POLLIN;
	return 1;
}

static int64_t signals_next(void *arg)
{
	struct daemon *d = arg;

	return d->stopping ? d->stop_deadline : INT64_MAX;
}

/* --- transfers, watchdog --- */

static void xfer_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct daemon *d = arg;

	xfer_harvest(d->xfer);
}

/* systemd's watchdog: proof of life from the loop itself, so a wedged
 * loop gets the daemon restarted. */
static void watchdog_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct daemon *d = arg;

	if (d->watchdog_ms == 0 || d->clk->now < d->next_watchdog)
		return;
	sd_notify(0, "WATCHDOG=1");
	d->next_watchdog = d->clk->now + d->watchdog_ms;
}

static int64_t watchdog_next(void *arg)
{
	struct daemon *d = arg;

	return d->watchdog_ms ? d->next_watchdog : INT64_MAX;
}

/* --- dispatch and poller as sources --- */

static void dispatch_handle(void *arg, const struct pollfd *fds, size_t n)
{
	dispatch_run(((struct daemon *)arg)->dispatch);
}

static int64_t dispatch_src_next(void *arg)
{
	return dispatch_next(((struct daemon *)arg)->dispatch);
}

static void poller_handle(void *arg, const struct pollfd *fds, size_t n)
{
	poller_run(((struct daemon *)arg)->poller);
}

static int64_t poller_src_next(void *arg)
{
	return poller_next(((struct daemon *)arg)->poller);
}

static void poller_src_committed(void *arg, int ok)
{
	poller_committed(((struct daemon *)arg)->poller, ok);
}

/* --- housekeeping: mutes that end, pruning, systemd status --- */

static void mutes_announce(struct daemon *d)
{
	struct mute gone[8];
	int n = mutes_expire(d->mutes, gone, ARRAY_LEN(gone));

	for (int i = 0; i < n; i++) {
		char html[512];

		snprintf(html, sizeof(html),
			 "🔔 Mute #%lld ended: %lld alert(s) were held. "
			 "/alerts lists them.",
			 (long long)gone[i].id, (long long)gone[i].held);
		outbox_notify(d->outbox, html);
		log_info("mute #%lld ended; %lld alert(s) held",
			 (long long)gone[i].id, (long long)gone[i].held);
	}
}

/* systemctl status shows this line: the queue at a glance. */
static void status_notify(struct daemon *d)
{
	struct store_stats st;

	if (store_stats(d->store, d->clk->wall, &st) != 0)
		return;
	sd_notifyf(0, "STATUS=%lld pending, %lld retrying, %lld failed; "
		   "%lld sent in the last hour; Telegram %s",
		   (long long)(st.by_state[DS_PENDING] + st.by_state[DS_SENDING]),
		   (long long)st.by_state[DS_RETRYING],
		   (long long)st.by_state[DS_FAILED], (long long)st.sent_hour,
		   api_breaker_name(d->api));
}

static void housekeeping_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct daemon *d = arg;
	int64_t cutoff;
	int pruned;

	if (mutes_next_end(d->mutes) <= d->clk->wall)
		mutes_announce(d);
	if (d->clk->now < d->next_housekeeping)
		return;
	d->next_housekeeping = d->clk->now + HOUSEKEEPING_MS;
	if (store_tidy(d->store, d->clk->wall) != 0)
		log_error("store: %s", store_errmsg(d->store));
	cutoff = d->clk->wall - (int64_t)d->cfg.retention_days * 86400000;
	pruned = store_prune(d->store, cutoff, PRUNE_BATCH);
	if (pruned > 0) {
		log_info("pruned %d alert(s) older than %d days", pruned,
			 d->cfg.retention_days);
		/* more to do: come back soon, in small bites */
		if (pruned == PRUNE_BATCH)
			d->next_housekeeping = d->clk->now + 1000;
	}
	status_notify(d);
}

static int64_t housekeeping_next(void *arg)
{
	struct daemon *d = arg;
	int64_t end = mutes_next_end(d->mutes);

	if (end != INT64_MAX) {
		end = clock_wall_to_mono(d->clk, end);
		return end < d->next_housekeeping ? end : d->next_housekeeping;
	}
	return d->next_housekeeping;
}

/* --- the turn's end --- */

/* Makes the turn's writes durable; the sources answer after it. */
static int daemon_commit(void *arg)
{
	struct daemon *d = arg;

	if (store_commit(d->store) != 0) {
		log_error("store commit failed: %s; this turn's alerts are "
			  "refused and its replies dropped",
			  store_errmsg(d->store));
		d->commit_failed = 1;
		str_copy(d->commit_err, store_errmsg(d->store),
			 sizeof(d->commit_err));
		return -1;
	}
	d->commit_failed = 0;
	return 0;
}

static void state_committed(void *arg, int ok)
{
	struct daemon *d = arg;

	outbox_committed(d->outbox, ok);
	dispatch_committed(d->dispatch, ok);
	mutes_committed(d->mutes, ok);
	cmd_silence_committed(&d->cmds, ok);
	if (!ok)
		chats_reload(d->chats, &d->cfg);
}

/* --- relay mode: forwarding into Alertmanager --- */

static void relay_handle(void *arg, const struct pollfd *fds, size_t n)
{
	relay_run(((struct daemon *)arg)->relay);
}

static int64_t relay_src_next(void *arg)
{
	return relay_next(((struct daemon *)arg)->relay);
}

static void relay_src_committed(void *arg, int ok)
{
	relay_committed(((struct daemon *)arg)->relay, ok);
}

static int sources_add(struct daemon *d)
{
	struct loop_source src[] = {
		{ .name = "signals", .arg = d, .maxfds = 1,
		  .pollfds = signals_pollfds, .handle = signals_handle,
		  .next = signals_next },
		{ .name = "socket" }, /* filled below */
		{ .name = "transfers", .arg = d, .handle = xfer_handle },
		{ .name = "watchdog", .arg = d, .handle = watchdog_handle,
		  .next = watchdog_next },
		{ .name = "dispatch", .arg = d, .handle = dispatch_handle,
		  .next = dispatch_src_next, .work = 1 },
		{ .name = "poller", .arg = d, .handle = poller_handle,
		  .next = poller_src_next, .committed = poller_src_committed,
		  .work = 1 },
		{ .name = "housekeeping", .arg = d,
		  .handle = housekeeping_handle, .next = housekeeping_next,
		  .committed = state_committed, .work = 1 },
	};

	struct loop_source relay = {
		.name = "relay", .arg = d, .handle = relay_handle,
		.next = relay_src_next, .committed = relay_src_committed,
		.work = 1,
	};
	struct loop_source http;

	sockin_source(d->sockin, &src[1]);
	for (size_t i = 0; i < ARRAY_LEN(src); i++) {
		/* A relay never polls Telegram: it has no token to poll with. */
		if (d->relay && strcmp(src[i].name, "poller") == 0)
			continue;
		if (loop_add(d->loop, &src[i]) != 0)
			return -1;
	}
	if (d->relay && loop_add(d->loop, &relay) != 0)
		return -1;
	if (d->httpin == NULL)
		return 0;
	httpin_source(d->httpin, &http);
	return loop_add(d->loop, &http);
}

/* --- /metrics and /healthz --- */

static int daemon_metrics(void *arg, struct buf *out, char *err,
			  size_t errlen)
{
	struct daemon *d = arg;
	struct metrics_proc proc;
	struct store_stats st;
	struct metrics_facts f = {
		.version = OPSBOT_VERSION,
		.start_wall_ms = d->started_wall,
		.breaker_open = api_breaker_open(d->api),
		.api_paused = api_paused(d->api),
		.chats_failed = (int64_t)chats_failed_count(d->chats),
		.mutes_active = (int64_t)mutes_count(d->mutes),
		.proc = &proc,
	};

	struct metrics_relay_peer rp[AM_MAX_PEERS];

	for (size_t i = 0; d->relay && i < relay_npeers(d->relay) &&
	     i < ARRAY_LEN(rp); i++) {
		struct relay_peer_info pi;

		relay_peer_info(d->relay, i, &pi);
		rp[i] = (struct metrics_relay_peer){
			.url = pi.url, .queue = pi.queue, .posted = pi.posted,
			.reposted = pi.reposted, .failures = pi.failures,
			.dropped = pi.dropped, .breaker_open = pi.breaker_open,
			.last_ok_wall = pi.last_ok_wall,
		};
		f.relay = rp;
		f.nrelay = i + 1;
	}
	metrics_read_proc("/proc", sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
			  &proc, NULL, 0);
	if (store_stats(d->store, d->clk->wall, &st) == 0) {
		f.queue_depth = st.by_state[DS_PENDING] +
				st.by_state[DS_SENDING] +
				st.by_state[DS_RETRYING];
		f.oldest_pending_ms = st.oldest_undelivered ?
				      d->clk->wall - st.oldest_undelivered : 0;
	}
	return metrics_render(out, &d->stats, &f, err, errlen);
}

/* Healthy: the loop turns (it is answering) and the last commit worked.
 * A 401 pause or an open breaker is Telegram's state, in the metrics. */
static int daemon_health(void *arg, char *why, size_t whylen)
{
	struct daemon *d = arg;

	if (d->commit_failed) {
		snprintf(why, whylen, "store: %s", d->commit_err);
		return 0;
	}
	return 1;
}

static int open_http(struct daemon *d)
{
	struct httpin_deps hd = {
		.cfg = &d->cfg, .clk = d->clk, .store = d->store,
		.intake = d->intake, .metrics = daemon_metrics,
		.health = daemon_health, .arg = d,
	};
	char err[512];

	if (d->cfg.http_listen[0] == '\0')
		return 0;
	if (httpin_open(&d->httpin, &hd, err, sizeof(err)) != 0) {
		log_error("http: %s", err);
		return -1;
	}
	log_info("http: listening on %s (port %d)", d->cfg.http_listen,
		 httpin_port(d->httpin));
	return 0;
}

/* --- building it --- */

/* Deliveries by result are facts in the store: the counters carry on
 * across a restart (the process-local ones start at 0). */
static void stats_seed_from_store(struct daemon *d)
{
	struct store_stats st;

	stats_init(&d->stats);
	if (store_stats(d->store, d->clk->wall, &st) != 0)
		return;
	stats_seed(&d->stats, ST_DELIVERY_SENT, (uint64_t)st.by_state[DS_SENT]);
	stats_seed(&d->stats, ST_DELIVERY_FAILED,
		   (uint64_t)st.by_state[DS_FAILED]);
}

static int socket_gid(const char *name, gid_t *gid)
{
	struct group *g;

	*gid = (gid_t)-1;
	if (name[0] == '\0')
		return 0;
	if ((g = getgrnam(name)) == NULL) {
		log_error("socket.group: no such group \"%s\"", name);
		return -1;
	}
	*gid = g->gr_gid;
	return 0;
}

static int open_socket(struct daemon *d)
{
	struct listener_opts lo = {
		.path = d->cfg.socket_path,
		.mode = d->cfg.socket_mode,
		.max_clients = d->cfg.max_clients,
		.max_line = d->cfg.max_line,
		.max_output = d->cfg.max_output,
		.max_clients_per_uid = d->cfg.max_clients_per_uid,
		.max_output_total = d->cfg.max_output_total,
		.idle_ms = (int64_t)d->cfg.idle_timeout * 1000,
		.max_lines_per_turn = 512,
	};
	struct sockin_deps sd = {
		.cfg = &d->cfg, .clk = d->clk, .intake = d->intake,
		.status = daemon_status_json, .status_arg = d,
	};
	char err[512];

	if (socket_gid(d->cfg.socket_group, &lo.gid) != 0)
		return -1;
	if (sockin_open(&d->sockin, &sd, &lo, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

static int open_telegram(struct daemon *d)
{
	struct tg_opts to = {
		.api_url = d->cfg.api_url,
		.token = d->cfg.token,
		.connect_timeout = d->cfg.connect_timeout,
		.request_timeout = d->cfg.request_timeout,
		.max_response = 4 << 20,
		.proxy = d->cfg.proxy,
		.no_proxy = d->cfg.no_proxy,
		.stats = &d->stats,
		.clk = d->clk,
	};
	struct ratelimit_opts ro = {
		.global_per_second = d->cfg.global_per_second,
		.chat_per_second = d->cfg.chat_per_second,
		.group_per_minute = d->cfg.group_per_minute,
		.margin_ms = 100,
		.reply_reserve = 3,
		.max_chats = 4096,
	};
	struct api_opts ao = api_opts_of(&d->cfg);
	char err[512];

	if ((d->tg = tg_new(d->xfer, &to, err, sizeof(err))) == NULL) {
		log_error("telegram client: %s", err);
		return -1;
	}
	d->rl = ratelimit_new(&ro);
	d->api = api_new(&ao, d->clk, &d->rng);
	return d->rl && d->api ? 0 : -1;
}

/* Alertmanager's API for silences (alertmanager.urls), on the same
 * transfers as Telegram's. */
static int open_alertmanager(struct daemon *d)
{
	const struct config *c = &d->cfg;
	struct am_opts o = {
		.npeers = c->am_npeers,
		.token = c->am_token,
		.user = c->am_user,
		.password = c->am_password,
		.connect_timeout = c->am_connect_timeout,
		.timeout = c->am_timeout,
		.max_response = 8 << 20,
	};
	char err[256];

	if (c->am_npeers == 0)
		return 0;
	for (size_t i = 0; i < c->am_npeers; i++)
		o.peers[i] = c->am_peers[i];
	if ((d->am = am_new(d->xfer, &o, err, sizeof(err))) == NULL) {
		log_error("alertmanager: %s", err);
		return -1;
	}
	log_info("alertmanager: silences go to %zu peer(s), first %s",
		 c->am_npeers, c->am_peers[0]);
	return 0;
}

/* Relay mode (relay.alertmanager): alerts go to Alertmanager, not to
 * Telegram. */
static int open_relay(struct daemon *d)
{
	struct relay_deps rd = {
		.cfg = &d->cfg, .clk = d->clk, .store = d->store,
		.xfer = d->xfer, .rng = &d->rng,
	};
	char err[256];

	if (!d->cfg.relay)
		return 0;
	if ((d->relay = relay_new(&rd, err, sizeof(err))) == NULL) {
		log_error("relay: %s", err);
		return -1;
	}
	log_info("relay mode: forwarding every alert to %zu Alertmanager "
		 "peer(s); Telegram is not used", d->cfg.relay_npeers);
	return 0;
}

/* The modules above the store and the transport, each given its deps. */
static int wire_modules(struct daemon *d)
{
	struct dispatch_deps dd = {
		.cfg = &d->cfg, .clk = d->clk, .store = d->store, .tg = d->tg,
		.rl = d->rl, .api = d->api, .rng = &d->rng, .chats = d->chats,
		.stats = &d->stats,
	};
	struct intake_deps id = {
		.cfg = &d->cfg, .clk = d->clk, .store = d->store,
		.chats = d->chats, .mutes = d->mutes, .stats = &d->stats,
	};
	struct poller_deps pd = {
		.cfg = &d->cfg, .clk = d->clk, .store = d->store, .tg = d->tg,
		.api = d->api, .rng = &d->rng, .cmds = &d->cmds,
	};

	if ((d->dispatch = dispatch_new(&dd)) == NULL)
		return -1;
	d->outbox = dispatch_outbox(d->dispatch);
	d->cmds = (struct cmd_deps){
		.cfg = &d->cfg, .clk = d->clk, .store = d->store,
		.outbox = d->outbox, .dispatch = d->dispatch,
		.chats = d->chats, .mutes = d->mutes, .stats = &d->stats,
		.status = daemon_status_json, .status_arg = d,
		.am = d->am, .silence_turn = &d->silence_turn,
	};
	d->intake = intake_new(&id);
	d->poller = poller_new(&pd);
	return d->intake && d->poller ? 0 : -1;
}

static int daemon_open(struct daemon *d)
{
	char err[512];
	uint64_t wd_usec = 0;

	if (signals_init(d) != 0)
		return -1;
	if (store_open(&d->store, d->cfg.store_path, d->clk->wall, err,
		       sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if ((d->xfer = xfer_new(err, sizeof(err))) == NULL) {
		log_error("transfers: %s", err);
		return -1;
	}
	d->loop = loop_new(xfer_multi(d->xfer), daemon_commit, d);
	if (d->loop == NULL)
		return -1;
	d->clk = loop_clock(d->loop);
	if (open_telegram(d) != 0)
		return -1;
	stats_seed_from_store(d);
	if ((d->chats = chats_new(d->store)) == NULL ||
	    (d->mutes = mutes_new(d->store, d->clk)) == NULL)
		return -1;
	chats_load(d->chats, &d->cfg);
	mutes_load(d->mutes);
	if (open_alertmanager(d) != 0 || open_relay(d) != 0 ||
	    wire_modules(d) != 0 ||
	    open_socket(d) != 0 || open_http(d) != 0 ||
	    sources_add(d) != 0)
		return -1;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ms = (int64_t)(wd_usec / 2000);
	return 0;
}

struct daemon *daemon_new(const struct config *cfg)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct clock start;

	if (d == NULL) {
		log_error("out of memory");
		return NULL;
	}
	d->cfg = *cfg;
	d->sigfd[0] = d->sigfd[1] = -1;
	clock_read(&start);
	d->clk = &start; /* until the loop's clock exists */
	rng_seed(&d->rng, (uint64_t)start.wall ^ ((uint64_t)getpid() << 32));
	if (daemon_open(d) != 0) {
		log_error("could not start (see above)");
		daemon_free(d);
		return NULL;
	}
	d->started_now = d->clk->now;
	d->started_wall = d->clk->wall;
	log_info("opsbot %s: listening on %s, store %s, %zu chat(s), api %s",
		 OPSBOT_VERSION, d->cfg.socket_path, d->cfg.store_path,
		 d->cfg.nchats, d->cfg.api_url);
	return d;
}

static int loop_done(struct daemon *d)
{
	return d->stopping && (dispatch_inflight(d->dispatch) == 0 ||
			       d->clk->now >= d->stop_deadline);
}

int daemon_run(struct daemon *d)
{
	sd_notify(0, "READY=1\nSTATUS=running");
	while (!loop_done(d))
		loop_turn(d->loop);
	log_info("stopped");
	return 0;
}

void daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	if (d->sockin)
		sockin_close(d->sockin);
	httpin_close(d->httpin);
	/* Transfers first: in-flight requests are aborted without calling
	 * back; the modules then free what those requests carried. */
	xfer_free(d->xfer);
	am_free(d->am);
	relay_free(d->relay);
	poller_free(d->poller);
	dispatch_free(d->dispatch);
	intake_free(d->intake);
	tg_free(d->tg);
	api_free(d->api);
	ratelimit_free(d->rl);
	mutes_free(d->mutes);
	chats_free(d->chats);
	loop_free(d->loop);
	if (d->store)
		store_close(d->store);
	if (d->sigfd[0] >= 0) {
		close(d->sigfd[0]);
		close(d->sigfd[1]);
	}
	sigfd_w = -1;
	explicit_bzero(d->cfg.token, sizeof(d->cfg.token));
	explicit_bzero(d->cfg.http_token, sizeof(d->cfg.http_token));
	free(d);
}

/* --- the status report (/status, `opsbot status`) --- */

static void status_counts(struct daemon *d, cJSON *o)
{
	struct store_stats st;
	struct listener_stats ls;
	cJSON *q = cJSON_AddObjectToObject(o, "queue");
	int64_t wall = d->clk->wall;

	if (store_stats(d->store, wall, &st) == 0) {
		cJSON_AddNumberToObject(o, "alerts_stored", (double)st.alerts);
		for (int s = 0; s < DS_COUNT; s++)
			cJSON_AddNumberToObject(q, delivery_state_name(s),
						(double)st.by_state[s]);
		cJSON_AddNumberToObject(q, "oldest_undelivered_age_s",
					st.oldest_undelivered ?
					(double)((wall - st.oldest_undelivered) / 1000) : 0);
		cJSON_AddNumberToObject(q, "next_retry_in_s",
					st.next_retry ?
					(double)((st.next_retry - wall) / 1000) : -1);
		cJSON_AddNumberToObject(o, "sent_last_hour", (double)st.sent_hour);
		cJSON_AddNumberToObject(o, "sent_last_day", (double)st.sent_day);
		cJSON_AddNumberToObject(o, "store_bytes", (double)st.db_bytes);
	} else {
		cJSON_AddStringToObject(o, "store_error", store_errmsg(d->store));
	}
	sockin_get_stats(d->sockin, &ls);
	cJSON_AddNumberToObject(o, "clients", ls.clients);
}


static cJSON *daemon_status_json(void *arg)
{
	struct daemon *d = arg;
	cJSON *o = cJSON_CreateObject();
	cJSON *api = cJSON_AddObjectToObject(o, "telegram");

	cJSON_AddStringToObject(o, "version", OPSBOT_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)((d->clk->now - d->started_now) / 1000));
	cJSON_AddStringToObject(api, "breaker", api_breaker_name(d->api));
	cJSON_AddBoolToObject(api, "unauthorized", api_paused(d->api));
	if (d->cfg.proxy[0] != '\0') {
		char shown[512];

		/* the address only: never its user name or password */
		cJSON_AddStringToObject(api, "proxy", proxy_display(
					d->cfg.proxy, shown, sizeof(shown)));
	}
	stats_status_json(&d->stats, d->clk->now, d->clk->wall, api, o);
	status_counts(d, o);
	cJSON_AddNumberToObject(o, "mutes", (double)mutes_count(d->mutes));
	dispatch_status(d->dispatch, o);
	/* a relay never polls: its status shows the peers instead */
	if (d->relay)
		relay_status(d->relay, o);
	else
		poller_status(d->poller, o);
	return o;
}
