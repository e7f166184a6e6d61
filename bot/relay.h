/*
 * relay.h - relay mode: every stored alert is forwarded to every
 * Alertmanager peer of relay.alertmanager (POST /api/v2/alerts, batched),
 * because Alertmanager peers do not share alerts (only silences and the
 * notification log), as Prometheus does.
 *
 * The queue is the store: each peer has a cursor (the last alert id it
 * accepted, kept in the store's kv table and moved in the turn of the
 * answer), so an acknowledged alert survives any crash and a peer that
 * was down gets its backlog, oldest first, when it returns. Each peer has
 * its own request in flight, backoff with full jitter and circuit breaker
 * (bot/pacing.h): one peer down never delays the others. Only committed
 * alerts are posted. Keyed firing alerts are posted again every
 * relay.repost_interval until they resolve, so that Alertmanager's
 * resolve_timeout never ends them.
 *
 * Mapping (relay_alert_json): labels alertname (the key, else the
 * title), severity, instance (the source), host, plus the alert's own
 * labels (names made valid for Prometheus); annotations summary (title),
 * description (text, cut to RELAY_MAX_DESCRIPTION bytes), url; startsAt
 * when the firing was received; a resolution is posted with endsAt, under
 * the labels of the firing it resolves. A one-shot alert (no key) gets a
 * label opsbot_oneshot="<id>" of its own: shown once at the edge, whose
 * webhook intake drops its resolution when Alertmanager times it out.
 */
#ifndef OPSBOT_RELAY_H
#define OPSBOT_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_MAX_BODY (512 * 1024)   /* bytes of one POST, about */
#define RELAY_MAX_DESCRIPTION 4096    /* bytes of a description */
#define RELAY_KV_PREFIX "relay.cursor."

struct alert;
struct clock;
struct config;
struct cJSON;
struct rng;
struct store;
struct xfer;

struct relay_deps {
	const struct config *cfg;
	const struct clock *clk;
	struct store *store;
	struct xfer *xfer;
	struct rng *rng;
};

/* Per peer, for `opsbot status` and /metrics. */
struct relay_peer_info {
	const char *url;
	const char *state;       /* "ok", "retrying", "down" (breaker open) */
	int64_t queue;           /* committed alerts it has not taken */
	int64_t cursor;          /* the last alert id it took */
	uint64_t posted;         /* alerts it accepted (this process) */
	uint64_t reposted;       /* firing alerts posted again */
	uint64_t failures;       /* failed POSTs */
	uint64_t dropped;        /* alerts it refused one by one (400) */
	int breaker_open;
	const char *last_error;  /* "" none */
	int64_t last_error_wall; /* 0 never */
	int64_t last_ok_wall;    /* 0 never */
};

struct relay;

/* Reads each peer's cursor from the store. NULL with err. */
struct relay *relay_new(const struct relay_deps *deps, char *err,
			size_t errlen);
/* After xfer_free: requests still in flight are forgotten. */
void relay_free(struct relay *r);

/* Starts every POST that is due (the loop source's handle). */
void relay_run(struct relay *r);
/* Earliest monotonic ms relay_run has something to start. */
int64_t relay_next(const struct relay *r);
/* After the turn's commit: ok makes new alerts postable; a failed commit
 * puts the cursors back to what the store holds. */
void relay_committed(struct relay *r, int ok);
int relay_inflight(const struct relay *r);

size_t relay_npeers(const struct relay *r);
/* Peer i's figures; the strings live until the next relay call. */
void relay_peer_info(struct relay *r, size_t i, struct relay_peer_info *out);
/* Adds "relay": {"host", "peers": {URL: {...}}} to a status object. */
void relay_status(struct relay *r, struct cJSON *o);

/* Appends the Alertmanager form of a to arr (POST /api/v2/alerts).
 * orig: the firing that a resolution or repeat belongs to (its labels
 * and startsAt are used), or NULL for a itself. 0, or -1 when out of
 * memory. */
int relay_alert_json(const struct alert *a, const struct alert *orig,
		     const char *host, struct cJSON *arr);

#endif
