/*
 * daemon.h - the one daemon context, passed by pointer to every step of
 * the event loop, and the loop itself.
 *
 * The loop (daemon.c) reads as a list of module_verb steps:
 *   signals_handle -> curl_multi_poll(listener fds, self-pipe; timeout =
 *   earliest deadline) -> listener_handle (intake) -> tg_harvest ->
 *   dispatch_run -> poller_run -> housekeeping -> daemon_commit
 * One clock read per turn (now, wall) is passed to everything.
 */
#ifndef OPSBOT_DAEMON_H
#define OPSBOT_DAEMON_H

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>

#include "alerts/listener.h"
#include "alerts/store.h"
#include "config.h"
#include "pacing.h"
#include "telegram.h"

struct dispatch;
struct poller;

/* A socket client's answer, held until the turn's commit. */
struct pending_reply {
	uint64_t cid;
	int64_t alert_id; /* > 0: answer ok with this id once committed */
	char *error;      /* else the error text (owned) */
	char *raw;        /* else a ready JSON reply (owned): status */
};

struct counters {
	uint64_t alerts_accepted;
	uint64_t alerts_rejected;
	uint64_t sent;          /* messages accepted by Telegram */
	uint64_t rate_limited;  /* 429s received */
	uint64_t transient;     /* transient failures */
	int64_t last_ok_wall;   /* last successful API call */
	int64_t last_err_wall;
	char last_err[256];
};

struct daemon {
	struct config cfg;
	struct store *store;
	struct listener *listener;
	struct tg *tg;
	struct ratelimit *rl;
	struct breaker breaker;
	struct rng rng;
	struct dispatch *dispatch;
	struct poller *poller;

	int64_t now;  /* monotonic ms, read once per turn */
	int64_t wall; /* wall-clock ms, same instant */
	int64_t started_now, started_wall;

	/* what the loop polls: the listener and up to max_clients clients
	 * (pfds), and the same plus the self-pipe for curl (wfds) */
	struct pollfd *pfds;
	struct curl_waitfd *wfds;
	size_t maxfds;

	struct pending_reply *replies; /* this turn's socket answers */
	size_t nreplies, capreplies;

	int sigfd[2];        /* self-pipe: handlers write, the loop reads */
	int stopping;        /* SIGTERM/SIGINT seen */
	int64_t stop_deadline;
	int auth_failed;     /* 401: sending paused until reload */
	int64_t next_housekeeping;
	int64_t watchdog_ms;   /* systemd WatchdogSec/2, 0 = off */
	int64_t next_watchdog;
	struct mute mutes[32]; /* active mutes, reloaded when they change */
	size_t nmutes;
	int mutes_dirty;
	struct counters ctr;
};

extern volatile sig_atomic_t got_sigterm, got_sighup;

/* Opens store, socket and transport from d->cfg. 0 or -1 (logged). */
int daemon_init(struct daemon *d);
/* Runs the loop until a stop signal; returns the exit status. */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

/* Queues a socket answer for after this turn's commit. Takes error/raw. */
void daemon_reply(struct daemon *d, uint64_t cid, int64_t alert_id,
		  char *error, char *raw);

/* The status report as a cJSON object (caller deletes); shared by the
 * socket `status` command and /status. */
struct cJSON *daemon_status_json(struct daemon *d);

/* Wall ms -> monotonic ms of this turn's clock. */
int64_t daemon_wall_to_mono(const struct daemon *d, int64_t wall);

#endif
