/*
 * daemon.c - the event loop: one thread, one curl_multi_poll, one clock
 * read and one store transaction per turn. See daemon.h.
 */
#include "daemon.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alerts/intake.h"
#include "commands/poller.h"
#include "dispatch.h"
#include "log.h"

#define HOUSEKEEPING_MS 60000
#define PRUNE_BATCH 500

volatile sig_atomic_t got_sigterm, got_sighup;

int64_t daemon_wall_to_mono(const struct daemon *d, int64_t wall)
{
	return d->now + (wall - d->wall);
}

static void clock_read(struct daemon *d)
{
	d->now = clock_mono_ms();
	d->wall = clock_wall_ms();
}

void daemon_reply(struct daemon *d, uint64_t cid, int64_t alert_id,
		  char *error, char *raw)
{
	struct pending_reply *r;

	if (d->nreplies == d->capreplies) {
		size_t cap = d->capreplies ? d->capreplies * 2 : 1024;

		r = realloc(d->replies, cap * sizeof(*r));
		if (r == NULL) {
			/* Nothing to answer with: the client sees no reply
			 * for this line and will time out and resend. */
			free(error);
			free(raw);
			return;
		}
		d->replies = r;
		d->capreplies = cap;
	}
	r = &d->replies[d->nreplies++];
	r->cid = cid;
	r->alert_id = alert_id;
	r->error = error;
	r->raw = raw;
}

static char *reply_error_json(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* Answers every client of this turn, in order: ok only if committed. */
static void replies_flush(struct daemon *d, const char *commit_err)
{
	char line[64], fail[512];

	if (commit_err)
		snprintf(fail, sizeof(fail), "store: %s; alert not stored",
			 commit_err);
	for (size_t i = 0; i < d->nreplies; i++) {
		struct pending_reply *r = &d->replies[i];
		char *json = NULL;

		if (r->raw) {
			listener_reply(d->listener, r->cid, r->raw);
		} else if (r->alert_id > 0 && commit_err == NULL) {
			snprintf(line, sizeof(line), "{\"ok\":true,\"id\":%lld}",
				 (long long)r->alert_id);
			listener_reply(d->listener, r->cid, line);
		} else {
			json = reply_error_json(r->alert_id > 0 ? fail :
						r->error ? r->error : "error");
			if (json)
				listener_reply(d->listener, r->cid, json);
		}
		free(json);
		free(r->error);
		free(r->raw);
	}
	d->nreplies = 0;
}

/* The end of every turn: make the turn's writes durable, then answer. */
static void daemon_commit(struct daemon *d)
{
	const char *err = NULL;

	if (store_commit(d->store) != 0) {
		err = store_errmsg(d->store);
		log_error("store commit failed: %s; %zu alert(s) refused", err,
			  d->nreplies);
	}
	replies_flush(d, err);
}

static void mutes_reload(struct daemon *d)
{
	int n = store_mutes(d->store, d->wall, d->mutes, ARRAY_LEN(d->mutes));

	d->nmutes = n > 0 ? (size_t)n : 0;
	d->mutes_dirty = 0;
}

/* When the next active mute ends (wall ms); INT64_MAX with none. The
 * list is in id order, not end order: a later mute may end first. */
static int64_t mutes_next_end(const struct daemon *d)
{
	int64_t t = INT64_MAX;

	for (size_t i = 0; i < d->nmutes; i++)
		if (d->mutes[i].until < t)
			t = d->mutes[i].until;
	return t;
}

static void mutes_expire(struct daemon *d)
{
	struct mute gone[8];
	int n = store_mutes_expire(d->store, d->wall, gone, ARRAY_LEN(gone));

	for (int i = 0; i < n; i++) {
		char html[512];

		snprintf(html, sizeof(html),
			 "🔔 Mute #%lld ended: %lld alert(s) were held. "
			 "/alerts lists them.",
			 (long long)gone[i].id, (long long)gone[i].held);
		dispatch_notify(d->dispatch, html);
		log_info("mute #%lld ended; %lld alert(s) held",
			 (long long)gone[i].id, (long long)gone[i].held);
	}
	if (n > 0 || d->mutes_dirty)
		mutes_reload(d);
}

/* systemd's watchdog: proof of life from the loop itself, so a wedged
 * loop gets the daemon restarted. */
static void watchdog_run(struct daemon *d)
{
	if (d->watchdog_ms == 0 || d->now < d->next_watchdog)
		return;
	sd_notify(0, "WATCHDOG=1");
	d->next_watchdog = d->now + d->watchdog_ms;
}

/* systemctl status shows this line: the queue at a glance. */
static void status_notify(struct daemon *d)
{
	struct store_stats st;

	if (store_stats(d->store, d->wall, &st) != 0)
		return;
	sd_notifyf(0, "STATUS=%lld pending, %lld retrying, %lld failed; "
		   "%lld sent in the last hour; Telegram %s",
		   (long long)(st.by_state[DS_PENDING] + st.by_state[DS_SENDING]),
		   (long long)st.by_state[DS_RETRYING],
		   (long long)st.by_state[DS_FAILED], (long long)st.sent_hour,
		   breaker_state_name(d->breaker.state));
}

static void housekeeping_run(struct daemon *d)
{
	int64_t cutoff;
	int n;

	if (d->mutes_dirty || mutes_next_end(d) <= d->wall)
		mutes_expire(d);
	if (d->now < d->next_housekeeping)
		return;
	d->next_housekeeping = d->now + HOUSEKEEPING_MS;
	cutoff = d->wall - (int64_t)d->cfg.retention_days * 86400000;
	n = store_prune(d->store, cutoff, PRUNE_BATCH);
	if (n > 0) {
		log_info("pruned %d alert(s) older than %d days", n,
			 d->cfg.retention_days);
		/* more to do: come back soon, in small bites */
		if (n == PRUNE_BATCH)
			d->next_housekeeping = d->now + 1000;
	}
	status_notify(d);
}

/* --- signals: the handler only sets a flag and wakes the loop --- */

static int sigfd_w = -1;

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

static void signals_drain(struct daemon *d)
{
	char buf[64];

	while (read(d->sigfd[0], buf, sizeof(buf)) > 0)
		;
}

/* SIGHUP: the new config replaces the running one only if it is valid.
 * Socket and store paths need a restart; the rest applies at once. */
static void config_reload(struct daemon *d)
{
	struct config *nc = malloc(sizeof(*nc));
	char err[4096], warn[1024] = "";

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
	    strcmp(nc->token, d->cfg.token) != 0 ||
	    strcmp(nc->api_url, d->cfg.api_url) != 0 ||
	    nc->global_per_second != d->cfg.global_per_second ||
	    nc->group_per_minute != d->cfg.group_per_minute ||
	    nc->chat_per_second != d->cfg.chat_per_second)
		log_warnx("socket, store, token, api_url and limits changes "
			  "take effect after a restart");
	str_copy(nc->socket_path, d->cfg.socket_path, sizeof(nc->socket_path));
	str_copy(nc->store_path, d->cfg.store_path, sizeof(nc->store_path));
	str_copy(nc->token, d->cfg.token, sizeof(nc->token));
	str_copy(nc->api_url, d->cfg.api_url, sizeof(nc->api_url));
	d->cfg = *nc;
	free(nc);
	dispatch_reload(d->dispatch); /* new destination chats */
	log_set_level(d->cfg.log_level);
	d->auth_failed = 0; /* a new token file may fix a 401 */
	log_info("configuration reloaded from %s", d->cfg.path);
}

static void signals_handle(struct daemon *d)
{
	signals_drain(d);
	if (got_sighup) {
		got_sighup = 0;
		config_reload(d);
	}
	if (got_sigterm && !d->stopping) {
		d->stopping = 1;
		d->stop_deadline = d->now + 5000;
		listener_stop(d->listener);
		log_info("stopping: finishing %d request(s) in flight (up to "
			 "5 s)", dispatch_inflight(d->dispatch));
		sd_notify(0, "STOPPING=1");
	}
}

/* --- the loop --- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int loop_timeout(struct daemon *d)
{
	int64_t t = INT64_MAX;

	if (listener_backlog(d->listener))
		return 0;
	t = min64(t, listener_next_deadline(d->listener));
	t = min64(t, dispatch_next(d->dispatch));
	t = min64(t, poller_next(d->poller));
	t = min64(t, d->next_housekeeping);
	if (d->watchdog_ms)
		t = min64(t, d->next_watchdog);
	if (d->nmutes)
		t = min64(t, daemon_wall_to_mono(d, mutes_next_end(d)));
	if (d->stopping)
		t = min64(t, d->stop_deadline);
	if (t <= d->now)
		return 0;
	/* curl also wakes us for its own timers; cap the nap anyway so a
	 * stepped wall clock is noticed. */
	return (int)min64(t - d->now, 60000);
}

static void loop_wait(struct daemon *d, size_t *npfds)
{
	struct pollfd *pfds = d->pfds;
	struct curl_waitfd *wfds = d->wfds;
	size_t n;
	int numfds;

	n = listener_pollfds(d->listener, pfds, d->maxfds);
	for (size_t i = 0; i < n; i++) {
		wfds[i].fd = pfds[i].fd;
		wfds[i].events = (short)((pfds[i].events & POLLIN ?
					  CURL_WAIT_POLLIN : 0) |
					 (pfds[i].events & POLLOUT ?
					  CURL_WAIT_POLLOUT : 0));
		wfds[i].revents = 0;
	}
	wfds[n].fd = d->sigfd[0];
	wfds[n].events = CURL_WAIT_POLLIN;
	wfds[n].revents = 0;
	curl_multi_poll(tg_multi(d->tg), wfds, (unsigned)n + 1,
			loop_timeout(d), &numfds);
	for (size_t i = 0; i < n; i++)
		pfds[i].revents = (short)((wfds[i].revents & CURL_WAIT_POLLIN ?
					   POLLIN : 0) |
					  (wfds[i].revents & CURL_WAIT_POLLOUT ?
					   POLLOUT : 0) |
					  (wfds[i].revents & CURL_WAIT_POLLPRI ?
					   POLLPRI : 0));
	*npfds = n;
}

static int loop_done(struct daemon *d)
{
	if (!d->stopping)
		return 0;
	return dispatch_inflight(d->dispatch) == 0 || d->now >= d->stop_deadline;
}

int daemon_run(struct daemon *d)
{
	size_t npfds = 0;

	sd_notify(0, "READY=1\nSTATUS=running");
	for (;;) {
		clock_read(d);
		signals_handle(d);
		if (loop_done(d))
			break;
		loop_wait(d, &npfds);
		clock_read(d);
		listener_handle(d->listener, d->pfds, npfds, d->now, intake_line,
				d);
		tg_harvest(d->tg);
		watchdog_run(d);
		if (!d->stopping) {
			dispatch_run(d->dispatch);
			poller_run(d->poller);
			housekeeping_run(d);
		}
		daemon_commit(d);
	}
	daemon_commit(d);
	log_info("stopped");
	return 0;
}

static gid_t socket_gid(const char *name)
{
	struct group *g;

	if (name[0] == '\0')
		return (gid_t)-1;
	g = getgrnam(name);
	if (g == NULL)
		fatalx("socket.group: no such group \"%s\"", name);
	return g->gr_gid;
}

int daemon_init(struct daemon *d)
{
	struct listener_opts lo = {
		.path = d->cfg.socket_path,
		.mode = d->cfg.socket_mode,
		.gid = socket_gid(d->cfg.socket_group),
		.max_clients = d->cfg.max_clients,
		.max_line = d->cfg.max_line,
		.max_output = d->cfg.max_output,
		.idle_ms = (int64_t)d->cfg.idle_timeout * 1000,
		.max_lines_per_turn = 8192,
	};
	struct tg_opts to = {
		.api_url = d->cfg.api_url,
		.token = d->cfg.token,
		.connect_timeout = d->cfg.connect_timeout,
		.request_timeout = d->cfg.request_timeout,
		.max_response = 4 << 20,
		.proxy = d->cfg.proxy,
		.no_proxy = d->cfg.no_proxy,
	};
	struct ratelimit_opts ro = {
		.global_per_second = d->cfg.global_per_second,
		.chat_per_second = d->cfg.chat_per_second,
		.group_per_minute = d->cfg.group_per_minute,
		.margin_ms = 100,
		.reply_reserve = 3,
		.max_chats = 4096,
	};
	char err[512];
	uint64_t wd_usec = 0;

	clock_read(d);
	d->started_now = d->now;
	d->started_wall = d->wall;
	rng_seed(&d->rng, (uint64_t)d->wall ^ ((uint64_t)getpid() << 32));
	breaker_init(&d->breaker, d->cfg.breaker_threshold,
		     (int64_t)(d->cfg.retry_base * 1000),
		     (int64_t)(d->cfg.retry_cap * 1000));
	if (signals_init(d) != 0)
		return -1;
	if (store_open(&d->store, d->cfg.store_path, d->wall, err,
		       sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	if (listener_open(&d->listener, &lo, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	d->tg = tg_new(&to, err, sizeof(err));
	d->rl = ratelimit_new(&ro);
	if (d->tg == NULL || d->rl == NULL) {
		log_error("telegram client: %s", d->tg ? "out of memory" : err);
		return -1;
	}
	d->maxfds = (size_t)d->cfg.max_clients + 1; /* + the listener */
	d->pfds = calloc(d->maxfds, sizeof(*d->pfds));
	d->wfds = calloc(d->maxfds + 1, sizeof(*d->wfds)); /* + self-pipe */
	d->dispatch = dispatch_new(d);
	d->poller = poller_new(d);
	if (d->pfds == NULL || d->wfds == NULL || d->dispatch == NULL ||
	    d->poller == NULL) {
		log_error("out of memory");
		return -1;
	}
	mutes_reload(d);
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ms = (int64_t)(wd_usec / 2000);
	log_info("opsbot %s: listening on %s, store %s, %zu chat(s), api %s",
		 OPSBOT_VERSION, d->cfg.socket_path, d->cfg.store_path,
		 d->cfg.nchats, d->cfg.api_url);
	return 0;
}

void daemon_free(struct daemon *d)
{
	replies_flush(d, "shutting down");
	poller_free(d->poller);
	dispatch_free(d->dispatch);
	tg_free(d->tg);
	ratelimit_free(d->rl);
	if (d->listener)
		listener_close(d->listener);
	if (d->store)
		store_close(d->store);
	free(d->replies);
	free(d->pfds);
	free(d->wfds);
	if (d->sigfd[0] > 0) {
		close(d->sigfd[0]);
		close(d->sigfd[1]);
	}
	sigfd_w = -1;
	explicit_bzero(d->cfg.token, sizeof(d->cfg.token));
}

static void status_counts(struct daemon *d, cJSON *o)
{
	struct store_stats st;
	struct listener_stats ls;
	cJSON *q = cJSON_AddObjectToObject(o, "queue");

	if (store_stats(d->store, d->wall, &st) == 0) {
		cJSON_AddNumberToObject(o, "alerts_stored", (double)st.alerts);
		for (int s = 0; s < DS_COUNT; s++)
			cJSON_AddNumberToObject(q, delivery_state_name(s),
						(double)st.by_state[s]);
		cJSON_AddNumberToObject(q, "oldest_undelivered_age_s",
					st.oldest_undelivered ?
					(double)((d->wall - st.oldest_undelivered) / 1000) : 0);
		cJSON_AddNumberToObject(q, "next_retry_in_s",
					st.next_retry ?
					(double)((st.next_retry - d->wall) / 1000) : -1);
		cJSON_AddNumberToObject(o, "sent_last_hour", (double)st.sent_hour);
		cJSON_AddNumberToObject(o, "sent_last_day", (double)st.sent_day);
		cJSON_AddNumberToObject(o, "store_bytes", (double)st.db_bytes);
	} else {
		cJSON_AddStringToObject(o, "store_error", store_errmsg(d->store));
	}
	listener_get_stats(d->listener, &ls);
	cJSON_AddNumberToObject(o, "clients", ls.clients);
}

cJSON *daemon_status_json(struct daemon *d)
{
	cJSON *o = cJSON_CreateObject(), *api;

	cJSON_AddStringToObject(o, "version", OPSBOT_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)((d->now - d->started_now) / 1000));
	api = cJSON_AddObjectToObject(o, "telegram");
	cJSON_AddStringToObject(api, "breaker",
				breaker_state_name(d->breaker.state));
	cJSON_AddBoolToObject(api, "unauthorized", d->auth_failed);
	cJSON_AddNumberToObject(api, "last_ok_age_s", d->ctr.last_ok_wall ?
				(double)((d->wall - d->ctr.last_ok_wall) / 1000) : -1);
	cJSON_AddStringToObject(api, "last_error", d->ctr.last_err);
	cJSON_AddNumberToObject(api, "last_error_age_s", d->ctr.last_err_wall ?
				(double)((d->wall - d->ctr.last_err_wall) / 1000) : -1);
	cJSON_AddNumberToObject(api, "rate_limited", (double)d->ctr.rate_limited);
	cJSON_AddNumberToObject(api, "sent", (double)d->ctr.sent);
	cJSON_AddNumberToObject(o, "alerts_accepted",
				(double)d->ctr.alerts_accepted);
	cJSON_AddNumberToObject(o, "alerts_rejected",
				(double)d->ctr.alerts_rejected);
	status_counts(d, o);
	cJSON_AddNumberToObject(o, "mutes", (double)d->nmutes);
	dispatch_status(d->dispatch, o);
	poller_status(d->poller, o);
	return o;
}
