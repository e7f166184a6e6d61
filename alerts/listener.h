/*
 * listener.h - the alert socket: a UNIX SOCK_STREAM listener, its clients,
 * NDJSON framing, ordered replies and every per-client limit.
 *
 * The listener owns sockets and buffers, nothing else: each complete line
 * goes to the caller's callback, and the caller answers it later with
 * listener_reply() (after its commit). It never logs; problems the
 * operator should see are counted in struct listener_stats.
 */
#ifndef OPSBOT_LISTENER_H
#define OPSBOT_LISTENER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Zero limits take defaults (256 clients, 32 per uid, 64 KiB lines,
 * 1 MiB output per client, 32 MiB output over all clients, 256 lines per
 * turn); idle_ms <= 0 disables the idle close.
 *
 * Memory bound: input buffers hold at most max_line + 64 KiB per client,
 * reply buffers at most max_output_total bytes (allocated) over all
 * clients, so the listener never holds more than
 * max_clients x (max_line + 64 KiB) + max_output_total. */
struct listener_opts {
	const char *path;
	mode_t mode;          /* e.g. 0660, applied with umask around bind */
	gid_t gid;            /* (gid_t)-1: leave the group as is */
	int max_clients;      /* one more gets an error line and is closed */
	size_t max_line;      /* bytes without the newline */
	size_t max_output;    /* bytes of unsent replies; over it: closed */
	int64_t idle_ms;      /* no input and no pending reply this long:
				 closed */
	int max_lines_per_turn; /* lines handed out per listener_handle call,
				   over all clients (fairness, bounded txns) */
	int max_clients_per_uid; /* connections of one peer uid (root
				    included); one more gets an error line
				    and is closed */
	size_t max_output_total; /* bytes allocated for unsent replies, all
				    clients: over it, clients with error
				    replies pending go first, then the one
				    holding the most */
};

struct peer {
	int64_t uid; /* -1 if unknown */
	int64_t gid;
	int64_t pid;
};

/* One framed line of client cid. line/len is the line without '\n' (a
 * trailing '\r' is removed too); when the line was longer than max_line,
 * line is NULL, len is how many bytes it had (capped report) and the
 * rest of it has been discarded. */
typedef void (*listener_line_fn)(void *arg, uint64_t cid,
				 const struct peer *peer, const char *line,
				 size_t len);

struct listener_stats {
	int clients;
	uint64_t accepted;
	uint64_t refused_full;   /* over max_clients */
	uint64_t refused_uid;    /* over max_clients_per_uid */
	uint64_t closed_idle;
	uint64_t closed_output;  /* did not read its replies */
	uint64_t closed_output_total; /* closed to keep max_output_total */
	size_t output_held;      /* bytes allocated for unsent replies now */
	uint64_t overlong_lines;
};

struct listener;

/* Creates the socket. Refuses a path too long for sun_path and a path on
 * which a live daemon answers; replaces a stale socket file. Returns 0 and
 * *out, or -1 with the reason in err. */
int listener_open(struct listener **out, const struct listener_opts *o,
		  char *err, size_t errlen);
/* Closes every client and the socket, and unlinks the socket file. */
void listener_close(struct listener *l);
/* Stops accepting (shutdown): the listening socket is closed and
 * unlinked; clients are kept so their replies can still be sent. */
void listener_stop(struct listener *l);

/* Fills up to max pollfds (listener socket and clients; POLLOUT for
 * clients with pending output). Returns how many. */
size_t listener_pollfds(struct listener *l, struct pollfd *fds, size_t max);
/* Handles the revents of fds (as filled by listener_pollfds, same
 * order): accepts, reads, frames, writes, closes. Calls fn once per line,
 * in order per client. Also closes idle clients. */
void listener_handle(struct listener *l, const struct pollfd *fds, size_t n,
		     int64_t now, listener_line_fn fn, void *arg);
/* Lines already buffered but not handed out (fairness cap): call
 * listener_handle again with n = 0 to drain; 1 if some remain. */
int listener_backlog(const struct listener *l);

/* Queues line + '\n' for client cid and tries to write it now. 0 ok;
 * -1 if the client is gone or was closed for exceeding max_output (or
 * for the global max_output_total). A reply that starts with
 * {"ok":false is an error reply: clients holding those are closed first
 * when the global budget runs out (dropping them loses no alert). */
int listener_reply(struct listener *l, uint64_t cid, const char *line);

/* Earliest idle deadline (mono ms); INT64_MAX if none. */
int64_t listener_next_deadline(const struct listener *l);
void listener_get_stats(const struct listener *l, struct listener_stats *s);

/* Client side, for `opsbot send` and `opsbot status`: connects to path
 * (blocking, CLOEXEC). Returns the fd or -1 with the reason in err. */
int listener_connect(const char *path, char *err, size_t errlen);

#endif
