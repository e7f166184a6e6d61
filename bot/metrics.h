/*
 * metrics.h - /metrics: renders the stats module and a few facts the loop
 * hands over into Prometheus' text exposition format, version 0.0.4
 * (Content-Type: text/plain; version=0.0.4; charset=utf-8).
 *
 * A leaf: no logging and no store access. metrics_render does no I/O at
 * all; the process figures are read beforehand by metrics_read_proc,
 * which takes the /proc root so that tests can point it at a fixture.
 */
#ifndef OPSBOT_METRICS_H
#define OPSBOT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "bot/stats.h"
#include "bot/util.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The process figures Prometheus' client libraries export. A field the
 * reader could not get is left out of the rendering (has_* = 0). */
struct metrics_proc {
	int has_cpu, has_memory, has_start, has_open_fds, has_max_fds;
	double cpu_seconds;        /* user + system */
	uint64_t resident_bytes;
	uint64_t virtual_bytes;
	double start_time_seconds; /* since the epoch */
	uint64_t open_fds;
	uint64_t max_fds;          /* soft limit; absent when unlimited */
};

/* One Alertmanager peer of relay mode (bot/relay.h), per scrape. */
struct metrics_relay_peer {
	const char *url;
	int64_t queue;          /* alerts it has not taken */
	uint64_t posted;        /* alerts it accepted */
	uint64_t reposted;      /* firing alerts posted again */
	uint64_t failures;      /* failed POSTs */
	uint64_t dropped;       /* alerts it refused */
	int breaker_open;       /* 0/1 */
	int64_t last_ok_wall;   /* ms; 0 never */
};

/* Gauges and facts owned by other modules, filled by the loop per scrape
 * (all cheap: counters it keeps, never a store scan). */
struct metrics_facts {
	const char *version;       /* opsbot_build_info{version} */
	int64_t start_wall_ms;     /* opsbot_start_time_seconds */
	int64_t queue_depth;       /* deliveries not finished */
	int64_t oldest_pending_ms; /* age of the oldest of them; 0 if none */
	int breaker_open;          /* 0/1 */
	int api_paused;            /* 0/1: 401 pause */
	int64_t chats_failed;
	int64_t mutes_active;
	const struct metrics_proc *proc; /* NULL: no process_* metrics */
	/* relay mode: one per peer (opsbot_relay_*); n 0 = not a relay */
	const struct metrics_relay_peer *relay;
	size_t nrelay;
};

/* Reads <root>/self/stat, <root>/self/limits, <root>/self/fd and
 * <root>/stat (root is "/proc" in the daemon). ticks: sysconf(
 * _SC_CLK_TCK); page: sysconf(_SC_PAGESIZE). Fills what it can: 0 when
 * everything was read, -1 with the first problem in err otherwise (the
 * parts that were read are still usable). */
int metrics_read_proc(const char *root, long ticks, long page,
		      struct metrics_proc *out, char *err, size_t errlen);

/* Appends the whole exposition to out (the caller owns it; out->max
 * bounds it: 64 kB is plenty). 0, or -1 with the reason in err when out
 * would grow past its max or allocation failed (out then holds a partial
 * text that must not be served). */
int metrics_render(struct buf *out, const struct stats *s,
		   const struct metrics_facts *f, char *err, size_t errlen);

/* Appends v as an exposition-format label value: \ " and newline escaped
 * (without the quotes). 0 or -1 as buf_append. */
int metrics_escape(struct buf *out, const char *v);

#endif
