/*
 * listener.c - the alert socket: a non-blocking UNIX SOCK_STREAM listener,
 * its clients, NDJSON framing with per-client limits, fair hand-out of
 * lines and ordered replies. See listener.h for the contract.
 *
 * Client ids encode their slot: cid = (seq << slot_bits) | slot, with seq
 * strictly increasing, so ids are monotonic and never reused while
 * listener_reply() finds a client in O(1) (check slot, compare id).
 */
#include "alerts/listener.h"
#include "bot/util.h"

#include <errno.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define READ_CHUNK	65536	/* one read() */
#define READ_ROUNDS	4	/* reads per client per listener_handle */
#define LISTEN_BACKLOG	SOMAXCONN
#define MAX_CLIENTS_CAP	65536

/* Defaults for zero-valued options. */
#define DEF_MAX_CLIENTS	256
#define DEF_MAX_LINE	65536
#define DEF_MAX_OUTPUT	(1024 * 1024)
#define DEF_LINES_TURN	256
#define DEF_PER_UID	32
#define DEF_OUTPUT_TOTAL ((size_t)32 * 1024 * 1024)
#define TRIM_AFTER	((size_t)4 * 1024 * 1024) /* freed bytes */
#define ERR_REPLY	"{\"ok\":false"

enum { LINE_NONE, LINE_OK, LINE_EMPTY, LINE_LONG };

struct client {
	int fd;			/* -1: free slot */
	uint64_t id;
	struct peer peer;
	struct buf in;		/* bytes read, not yet framed from off */
	size_t off;		/* start of the unframed bytes in in */
	size_t scan;		/* [off, scan) is known to hold no '\n' */
	struct buf out;		/* replies not yet written */
	int64_t active;		/* last input (or reply): idle clock */
	uint64_t unanswered;	/* lines handed out, not yet replied to */
	uint64_t err_pending;	/* error replies queued since out was empty */
	unsigned eof:1;		/* no more input will come */
	unsigned wdead:1;	/* peer cannot read: replies are dropped */
	unsigned discarding:1;	/* skipping the rest of an overlong line */
	unsigned ready:1;	/* framable input left (fairness cap) */
	unsigned doomed:1;	/* closed while its callback runs */
};

struct listener {
	struct listener_opts o;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;			/* listening socket, -1 once stopped */
	int spare_fd;		/* released on EMFILE to shed a connection */
	int own_file;		/* path is the socket we bound */
	dev_t dev;
	ino_t ino;
	struct client *cl;
	int ncl;
	int *freel;		/* stack of free slots */
	int nfree;
	unsigned slot_bits;
	uint64_t seq;
	uint64_t *pmap;		/* cid per pollfd index (0: listener) */
	size_t npoll;
	int rr;			/* round-robin start slot */
	int64_t now;		/* from the last listener_handle */
	struct client *cb;	/* client whose line the callback holds */
	char *rbuf;		/* READ_CHUNK scratch */
	size_t freed;		/* bytes freed since the last malloc_trim */
	struct listener_stats st; /* st.output_held: sum of out.cap */
};


static int fill_addr(struct sockaddr_un *sa, const char *path, char *err,
		     size_t errlen)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0)
		return err_set(err, errlen, "socket path is empty");
	if (n >= sizeof(sa->sun_path))
		return err_set(err, errlen,
			    "socket path too long (%zu bytes, max %zu): %s",
			    n, sizeof(sa->sun_path) - 1, path);
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/*
 * A socket file already at path is either a live daemon (refuse) or the
 * leftover of a crash (remove it). Non-blocking probe: a full backlog
 * answers EAGAIN, which also means someone is alive.
 */
static int clear_path(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errlen, "cannot stat %s: %s", path,
			    strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, errlen, "%s exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errlen, "socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
		return err_set(err, errlen, "another process is listening on %s "
			    "(is opsbot already running?)", path);
	if (e != ECONNREFUSED && e != ENOENT)
		return err_set(err, errlen, "cannot probe %s: %s", path,
			    strerror(e));
	if (unlink(path) != 0 && errno != ENOENT)
		return err_set(err, errlen, "cannot remove stale socket %s: %s",
			    path, strerror(errno));
	return 0;
}

/* bind() with the umask that yields mode, then chmod/chown anyway: the
 * umask only narrows, and some filesystems ignore it for sockets. */
static int bind_socket(struct listener *l, const struct sockaddr_un *sa,
		       char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	struct stat st;
	mode_t old;
	int rc, e;

	old = umask(~l->o.mode & 0777);
	rc = bind(l->fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	umask(old);
	if (rc != 0)
		return err_set(err, errlen, "cannot bind %s: %s", path,
			    strerror(e));
	if (lstat(path, &st) != 0)
		return err_set(err, errlen, "cannot stat %s: %s", path,
			    strerror(errno));
	l->own_file = 1;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (chmod(path, l->o.mode & 07777) != 0)
		return err_set(err, errlen, "cannot chmod %s: %s", path,
			    strerror(errno));
	if (l->o.gid != (gid_t)-1 && chown(path, (uid_t)-1, l->o.gid) != 0)
		return err_set(err, errlen, "cannot chown %s to group %ld: %s",
			    path, (long)l->o.gid, strerror(errno));
	if (listen(l->fd, LISTEN_BACKLOG) != 0)
		return err_set(err, errlen, "cannot listen on %s: %s", path,
			    strerror(errno));
	return 0;
}

/* Unlinks the socket file only if it is still the one we bound, so a
 * second instance's socket is never removed by us. */
static void unlink_ours(struct listener *l)
{
	struct stat st;

	if (!l->own_file)
		return;
	l->own_file = 0;
	if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
}

static void apply_defaults(struct listener_opts *o)
{
	if (o->max_clients <= 0)
		o->max_clients = DEF_MAX_CLIENTS;
	if (o->max_clients > MAX_CLIENTS_CAP)
		o->max_clients = MAX_CLIENTS_CAP;
	if (o->max_line == 0)
		o->max_line = DEF_MAX_LINE;
	if (o->max_output == 0)
		o->max_output = DEF_MAX_OUTPUT;
	if (o->max_lines_per_turn <= 0)
		o->max_lines_per_turn = DEF_LINES_TURN;
	if (o->max_clients_per_uid <= 0)
		o->max_clients_per_uid = DEF_PER_UID;
	if (o->max_output_total == 0)
		o->max_output_total = DEF_OUTPUT_TOTAL;
}

static int alloc_tables(struct listener *l)
{
	int i;

	l->ncl = l->o.max_clients;
	l->cl = calloc((size_t)l->ncl, sizeof(*l->cl));
	l->freel = calloc((size_t)l->ncl, sizeof(*l->freel));
	l->pmap = calloc((size_t)l->ncl + 1, sizeof(*l->pmap));
	l->rbuf = malloc(READ_CHUNK);
	if (!l->cl || !l->freel || !l->pmap || !l->rbuf)
		return -1;
	for (i = 0; i < l->ncl; i++) {
		l->cl[i].fd = -1;
		/* Pop order: slot 0 first. */
		l->freel[i] = l->ncl - 1 - i;
	}
	l->nfree = l->ncl;
	while ((1 << l->slot_bits) < l->ncl)
		l->slot_bits++;
	return 0;
}

static void free_listener(struct listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->spare_fd >= 0)
		close(l->spare_fd);
	free(l->cl);
	free(l->freel);
	free(l->pmap);
	free(l->rbuf);
	free(l);
}

int listener_open(struct listener **out, const struct listener_opts *o,
		  char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct listener *l;

	*out = NULL;
	if (o->path == NULL)
		return err_set(err, errlen, "socket path is not set");
	if (fill_addr(&sa, o->path, err, errlen) != 0 ||
	    clear_path(&sa, err, errlen) != 0)
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return err_set(err, errlen, "out of memory");
	l->fd = l->spare_fd = -1;
	l->o = *o;
	apply_defaults(&l->o);
	memcpy(l->path, sa.sun_path, sizeof(l->path));
	l->o.path = l->path;
	if (alloc_tables(l) != 0) {
		free_listener(l);
		return err_set(err, errlen, "out of memory");
	}
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		err_set(err, errlen, "socket for %s: %s", l->path,
		     strerror(errno));
		free_listener(l);
		return -1;
	}
	if (bind_socket(l, &sa, err, errlen) != 0) {
		unlink_ours(l);
		free_listener(l);
		return -1;
	}
	*out = l;
	return 0;
}

static struct client *find_client(struct listener *l, uint64_t cid)
{
	uint64_t slot = cid & (((uint64_t)1 << l->slot_bits) - 1);
	struct client *c;

	if (cid == 0 || slot >= (uint64_t)l->ncl)
		return NULL;
	c = &l->cl[slot];
	if (c->fd < 0 || c->id != cid || c->doomed)
		return NULL;
	return c;
}

/* Frees c's reply buffer (it must be empty, or be dropped): the global
 * budget counts what is allocated, and an empty buffer holds nothing. */
static void out_release(struct listener *l, struct client *c)
{
	l->st.output_held -= c->out.cap;
	l->freed += c->out.cap;
	buf_free(&c->out);
	c->err_pending = 0;
}

/* Frees c's input buffer once every byte of it was framed: an idle
 * client then holds no memory. */
static void in_release(struct listener *l, struct client *c)
{
	l->freed += c->in.cap;
	buf_free(&c->in);
	c->off = c->scan = 0;
}

/* Gives memory back to the system after large frees: glibc keeps freed
 * heap pages otherwise, and RSS would stay at its peak for good. */
static void maybe_trim(struct listener *l)
{
	if (l->freed < TRIM_AFTER)
		return;
	l->freed = 0;
#if defined(__GLIBC__)
	malloc_trim(0);
#endif
}

/* Frees the client's slot. While the callback holds one of its lines the
 * input must survive: the close is deferred to when it returns (its
 * replies are dropped at once, they will never be read). */
static void client_close(struct listener *l, struct client *c)
{
	if (c->fd < 0)
		return;
	out_release(l, c);
	if (c == l->cb) {
		c->doomed = 1;
		return;
	}
	close(c->fd);
	in_release(l, c);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	l->freel[l->nfree++] = (int)(c - l->cl);
	l->st.clients--;
}

/* Writes what it can; a peer that cannot read any more gets its output
 * dropped (wdead) but stays until its buffered lines are answered. */
static void client_flush(struct listener *l, struct client *c)
{
	ssize_t n;

	while (c->out.len > 0 && !c->wdead) {
		n = send(c->fd, c->out.data, c->out.len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN ||
				     errno == EWOULDBLOCK)) {
			return;
		} else {
			c->wdead = 1;
		}
	}
	if (c->out.len == 0 || c->wdead)
		out_release(l, c);
}

static int client_done(const struct client *c)
{
	return c->eof && c->off == c->in.len && !c->ready &&
	    c->unanswered == 0 && c->out.len == 0;
}

/* Sends the error line msg (best effort: a fresh socket buffer takes it
 * whole) and closes fd. The client reads it even after its own write
 * failed: the line waits in its receive queue. */
static void refuse_client(int fd, const char *msg)
{
	(void)send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* Connections open for peer uid (unknown peers, -1, count together). */
static int uid_clients(const struct listener *l, int64_t uid)
{
	int i, n = 0;

	for (i = 0; i < l->ncl; i++)
		if (l->cl[i].fd >= 0 && !l->cl[i].doomed &&
		    l->cl[i].peer.uid == uid)
			n++;
	return n;
}

static void add_client(struct listener *l, int fd, int64_t now)
{
	struct client *c;
	struct peer p = { -1, -1, -1 };
	struct ucred uc;
	socklen_t len = sizeof(uc);
	char msg[128];
	int slot;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 &&
	    len == sizeof(uc)) {
		p.uid = uc.uid;
		p.gid = uc.gid;
		p.pid = uc.pid;
	}
	if (l->nfree == 0) {
		snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"server: "
			 "too many clients (%d)\"}\n", l->ncl);
		refuse_client(fd, msg);
		l->st.refused_full++;
		return;
	}
	/* One sender must not hold every slot (one byte every idle
	 * period keeps a connection). */
	if (uid_clients(l, p.uid) >= l->o.max_clients_per_uid) {
		snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"peer: "
			 "uid %lld has too many connections (max %d)\"}\n",
			 (long long)p.uid, l->o.max_clients_per_uid);
		refuse_client(fd, msg);
		l->st.refused_uid++;
		return;
	}
	slot = l->freel[--l->nfree];
	c = &l->cl[slot];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->id = (++l->seq << l->slot_bits) | (uint64_t)slot;
	c->peer = p;
	buf_init(&c->in, l->o.max_line + READ_CHUNK);
	buf_init(&c->out, l->o.max_output);
	c->active = now;
	l->st.clients++;
	l->st.accepted++;
}

/* Out of descriptors: poll would report the listener forever. Give back
 * the spare fd, accept and drop one connection, take the spare again. */
static void shed_connection(struct listener *l)
{
	int fd;

	if (l->spare_fd < 0)
		return;
	close(l->spare_fd);
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_clients(struct listener *l, int64_t now)
{
	int fd;

	while (l->fd >= 0) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			add_client(l, fd, now);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE)
			shed_connection(l);
		return;
	}
}

/* Read error: the peer is gone. Complete lines already read are still
 * handed out (they may be alerts); the unterminated tail is truncated and
 * dropped, and so are replies. */
static void client_broken(struct listener *l, struct client *c)
{
	char *nl = NULL;

	c->eof = 1;
	c->wdead = 1;
	out_release(l, c);
	if (c->off < c->in.len)
		nl = memrchr(c->in.data + c->off, '\n', c->in.len - c->off);
	c->in.len = nl ? (size_t)(nl - c->in.data) + 1 : c->off;
	if (c->in.data != NULL)
		c->in.data[c->in.len] = '\0';
	if (c->scan > c->in.len)
		c->scan = c->in.len;
}

/* Reads until EAGAIN, EOF, the input limit or READ_ROUNDS chunks. */
static void client_read(struct listener *l, struct client *c, int64_t now)
{
	size_t room, want;
	ssize_t n;
	int round;

	for (round = 0; round < READ_ROUNDS && !c->eof; round++) {
		if (c->off > 0) {
			buf_consume(&c->in, c->off);
			c->scan = c->scan > c->off ? c->scan - c->off : 0;
			c->off = 0;
		}
		room = c->in.max - c->in.len;
		if (room == 0)
			return;
		want = room < READ_CHUNK ? room : READ_CHUNK;
		n = recv(c->fd, l->rbuf, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			client_broken(l, c);
			return;
		}
		if (n == 0) {
			c->eof = 1;
			return;
		}
		if (buf_append(&c->in, l->rbuf, (size_t)n) != 0)
			return; /* cannot happen: n <= room */
		c->active = now;
		if ((size_t)n < want)
			return; /* drained; poll tells us about more */
	}
}

/* Frames the next line of c. Returns LINE_* and sets *line / *len. */
static int next_line(struct listener *l, struct client *c, char **line,
		     size_t *len)
{
	size_t max = l->o.max_line, start, n, pending;
	char *nl;

	for (;;) {
		if (c->off >= c->in.len)
			return LINE_NONE;
		if (c->scan < c->off)
			c->scan = c->off;
		nl = memchr(c->in.data + c->scan, '\n', c->in.len - c->scan);
		if (c->discarding) {
			if (nl == NULL) {
				c->off = c->scan = c->in.len;
				continue;
			}
			c->off = c->scan = (size_t)(nl - c->in.data) + 1;
			c->discarding = 0;
			continue;
		}
		start = c->off;
		if (nl != NULL) {
			n = (size_t)(nl - c->in.data) - start;
			c->off = c->scan = start + n + 1;
		} else {
			pending = c->in.len - start;
			c->scan = c->in.len;
			/* +1: the line may still end in "\r\n". */
			if (pending > max + 1) {
				c->off = c->scan = c->in.len;
				c->discarding = 1;
				*line = NULL;
				*len = pending;
				return LINE_LONG;
			}
			if (!c->eof)
				return LINE_NONE;
			n = pending; /* final unterminated line */
			c->off = c->scan = c->in.len;
		}
		if (n > 0 && c->in.data[start + n - 1] == '\r')
			n--;
		if (n == 0)
			return LINE_EMPTY;
		*len = n;
		if (n > max) {
			*line = NULL;
			return LINE_LONG;
		}
		c->in.data[start + n] = '\0';
		*line = c->in.data + start;
		return LINE_OK;
	}
}

/* Whether next_line() would find something without more input. Moves
 * scan up to the next newline so that the search is not repeated. */
static int has_work(struct listener *l, struct client *c)
{
	char *nl;

	if (c->off >= c->in.len)
		return 0;
	if (c->scan < c->off)
		c->scan = c->off;
	nl = memchr(c->in.data + c->scan, '\n', c->in.len - c->scan);
	if (nl != NULL) {
		c->scan = (size_t)(nl - c->in.data);
		return 1;
	}
	c->scan = c->in.len;
	if (c->discarding)
		return 0;
	return c->eof || c->in.len - c->off > l->o.max_line + 1;
}

/* Hands out up to *budget lines of c. Returns -1 if c was closed. */
static int client_frame(struct listener *l, struct client *c, int *budget,
			listener_line_fn fn, void *arg)
{
	char *line = NULL;
	size_t len = 0;
	int r;

	while (*budget > 0) {
		r = next_line(l, c, &line, &len);
		if (r == LINE_NONE)
			break;
		if (r == LINE_EMPTY)
			continue;
		if (r == LINE_LONG)
			l->st.overlong_lines++;
		(*budget)--;
		c->unanswered++;
		l->cb = c;
		fn(arg, c->id, &c->peer, line, len);
		l->cb = NULL;
		if (c->doomed) {
			c->doomed = 0;
			client_close(l, c);
			return -1;
		}
	}
	c->ready = has_work(l, c) ? 1 : 0;
	if (c->off >= c->in.len && c->in.cap > 0)
		in_release(l, c);
	return 0;
}

static void frame_all(struct listener *l, listener_line_fn fn, void *arg)
{
	int budget = l->o.max_lines_per_turn, i, s, stop = -1;

	for (i = 0; i < l->ncl; i++) {
		s = (l->rr + i) % l->ncl;
		if (l->cl[s].fd < 0)
			continue;
		if (budget == 0) {
			/* Cap reached: clients not visited keep their input
			 * and will be read from on the next turn. */
			if (l->cl[s].off < l->cl[s].in.len)
				l->cl[s].ready = 1;
			continue;
		}
		client_frame(l, &l->cl[s], &budget, fn, arg);
		if (budget == 0 && stop < 0)
			stop = s;
	}
	/* The next turn starts after the client that used the budget up,
	 * or simply one further. */
	l->rr = ((stop >= 0 ? stop : l->rr) + 1) % l->ncl;
}

static int idle_eligible(const struct listener *l, const struct client *c)
{
	return l->o.idle_ms > 0 && !c->eof && c->unanswered == 0 &&
	    c->out.len == 0 && !c->ready;
}

static void reap(struct listener *l, int64_t now)
{
	struct client *c;
	int i;

	for (i = 0; i < l->ncl; i++) {
		c = &l->cl[i];
		if (c->fd < 0)
			continue;
		if (client_done(c)) {
			client_close(l, c);
		} else if (idle_eligible(l, c) &&
			   now - c->active >= l->o.idle_ms) {
			client_close(l, c);
			l->st.closed_idle++;
		}
	}
}

size_t listener_pollfds(struct listener *l, struct pollfd *fds, size_t max)
{
	struct client *c;
	size_t n = 0;
	short ev;
	int i;

	if (l->fd >= 0 && n < max) {
		fds[n].fd = l->fd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		l->pmap[n++] = 0;
	}
	for (i = 0; i < l->ncl && n < max; i++) {
		c = &l->cl[i];
		if (c->fd < 0)
			continue;
		ev = 0;
		if (!c->eof && c->in.len - c->off < c->in.max)
			ev |= POLLIN;
		if (c->out.len > 0)
			ev |= POLLOUT;
		/* Nothing to wait for (EOF, or input full and a backlog to
		 * drain): leaving it out keeps POLLHUP from spinning us. */
		if (ev == 0)
			continue;
		fds[n].fd = c->fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		l->pmap[n++] = c->id;
	}
	l->npoll = n;
	return n;
}

static void handle_fds(struct listener *l, const struct pollfd *fds,
		       size_t n, int64_t now)
{
	struct client *c;
	int accept_now = 0;
	short re;
	size_t i;

	if (n > l->npoll)
		n = l->npoll;
	for (i = 0; i < n; i++) {
		re = fds[i].revents;
		if (re == 0)
			continue;
		if (l->pmap[i] == 0) {
			if (fds[i].fd == l->fd && l->fd >= 0)
				accept_now = 1;
			continue;
		}
		/* The client may have been closed (and its fd number
		 * reused) since listener_pollfds: check both. */
		c = find_client(l, l->pmap[i]);
		if (c == NULL || c->fd != fds[i].fd)
			continue;
		if (re & (POLLOUT | POLLERR | POLLHUP))
			client_flush(l, c);
		if (re & (POLLIN | POLLERR | POLLHUP))
			client_read(l, c, now);
	}
	if (accept_now)
		accept_clients(l, now);
}

void listener_handle(struct listener *l, const struct pollfd *fds, size_t n,
		     int64_t now, listener_line_fn fn, void *arg)
{
	l->now = now;
	if (n > 0)
		handle_fds(l, fds, n, now);
	frame_all(l, fn, arg);
	reap(l, now);
	maybe_trim(l);
}

int listener_backlog(const struct listener *l)
{
	int i;

	for (i = 0; i < l->ncl; i++)
		if (l->cl[i].fd >= 0 && l->cl[i].ready)
			return 1;
	return 0;
}

/* Upper bound of c->out.cap once it holds need bytes: struct buf grows by
 * doubling from 256, never past max + 1. */
static size_t out_cap_after(const struct client *c, size_t need)
{
	size_t cap;

	if (need + 1 <= c->out.cap)
		return c->out.cap;
	cap = 2 * (need + 1) > 256 ? 2 * (need + 1) : 256;
	return cap < c->out.max + 1 ? cap : c->out.max + 1;
}

/* Whom to close when the global budget is short: clients holding error
 * replies first (losing those loses no alert), the one holding the most;
 * then the one holding the most. c is the client replying, as if it held
 * `want`; err says its reply is an error. */
static struct client *pick_victim(struct listener *l, struct client *c,
				  size_t want, int err)
{
	struct client *best = NULL, *x;
	size_t held, best_held = 0;
	int pass, i, bad;

	for (pass = 0; pass < 2 && best == NULL; pass++) {
		for (i = 0; i < l->ncl; i++) {
			x = &l->cl[i];
			if (x->fd < 0 || x->doomed)
				continue;
			held = x == c ? want : x->out.cap;
			bad = x->err_pending > 0 || (x == c && err);
			if (held == 0 || (pass == 0 && !bad))
				continue;
			if (best == NULL || held > best_held) {
				best = x;
				best_held = held;
			}
		}
	}
	return best;
}

/* Makes room in the global budget for c to grow to `want` bytes of
 * buffer. 0 ok; -1 if c itself had to go (it is closed). */
static int budget_make_room(struct listener *l, struct client *c,
			    size_t want, int err)
{
	struct client *v;

	while (l->st.output_held - c->out.cap + want > l->o.max_output_total) {
		v = pick_victim(l, c, want, err);
		if (v == NULL || v == c) {
			client_close(l, c);
			l->st.closed_output_total++;
			return -1;
		}
		client_close(l, v);
		l->st.closed_output_total++;
	}
	return 0;
}

int listener_reply(struct listener *l, uint64_t cid, const char *line)
{
	struct client *c = find_client(l, cid);
	size_t n, cap;
	int rc, err;

	if (c == NULL)
		return -1;
	if (c->unanswered > 0)
		c->unanswered--;
	/* A reply restarts the idle clock: the client may be about to send
	 * its next line. */
	if (l->now > c->active)
		c->active = l->now;
	if (c->wdead) {
		if (client_done(c))
			client_close(l, c);
		return -1;
	}
	n = strlen(line);
	err = strncmp(line, ERR_REPLY, strlen(ERR_REPLY)) == 0;
	if (c->out.len > 0 && n + 1 > c->out.max - c->out.len)
		client_flush(l, c);
	if (n + 1 > c->out.max - c->out.len) {
		client_close(l, c);
		l->st.closed_output++;
		return -1;
	}
	if (budget_make_room(l, c, out_cap_after(c, c->out.len + n + 1),
			     err) != 0)
		return -1;
	cap = c->out.cap;
	if (buf_append(&c->out, line, n) != 0 ||
	    buf_append(&c->out, "\n", 1) != 0) {
		l->st.output_held += c->out.cap - cap;
		client_close(l, c);
		l->st.closed_output++;
		return -1;
	}
	l->st.output_held += c->out.cap - cap;
	c->err_pending += (uint64_t)err;
	client_flush(l, c);
	rc = c->wdead ? -1 : 0;
	if (client_done(c))
		client_close(l, c);
	return rc;
}

int64_t listener_next_deadline(const struct listener *l)
{
	int64_t best = INT64_MAX, d;
	int i;

	for (i = 0; i < l->ncl; i++) {
		if (l->cl[i].fd < 0 || !idle_eligible(l, &l->cl[i]))
			continue;
		d = l->cl[i].active + l->o.idle_ms;
		if (d < best)
			best = d;
	}
	return best;
}

void listener_get_stats(const struct listener *l, struct listener_stats *s)
{
	*s = l->st;
}

void listener_stop(struct listener *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	unlink_ours(l);
}

void listener_close(struct listener *l)
{
	int i;

	if (l == NULL)
		return;
	listener_stop(l);
	l->cb = NULL;
	for (i = 0; i < l->ncl; i++)
		client_close(l, &l->cl[i]);
	free_listener(l);
}

int listener_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, e;

	if (fill_addr(&sa, path, err, errlen) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errlen, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		close(fd);
		return err_set(err, errlen,
			    "cannot connect to %s: %s. Is opsbot running?",
			    path, strerror(e));
	}
	return fd;
}
