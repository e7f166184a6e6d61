/*
 * test_listener.c - unit tests for alerts/listener.c: socket setup and its
 * refusals, framing, limits, fairness, ordered replies, half-close and
 * idle close. Real UNIX sockets in a temp dir; time is an injected `now`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bot/util.c"
#include "alerts/listener.c"

#include <sys/wait.h>

#define MAX_GOT		4096
#define GOT_LEN		2048

struct got {
	uint64_t cid;
	int null;
	size_t len;
	struct peer peer;
	char s[GOT_LEN];
};

struct fx {
	char dir[64];
	char path[128];
	struct listener *l;
	struct listener_opts o;
	struct got *got;
	int ngot;
	const char *cb_reply;	/* if set, on_line answers at once */
	int cb_rc[MAX_GOT];
};

static void on_line(void *arg, uint64_t cid, const struct peer *peer,
		    const char *line, size_t len)
{
	struct fx *f = arg;
	struct got *g;

	assert_true(f->ngot < MAX_GOT);
	g = &f->got[f->ngot++];
	g->cid = cid;
	g->null = line == NULL;
	g->len = len;
	g->peer = *peer;
	if (line != NULL) {
		assert_true(len < GOT_LEN);
		memcpy(g->s, line, len);
		g->s[len] = '\0';
	}
	if (f->cb_reply != NULL)
		f->cb_rc[f->ngot - 1] = listener_reply(f->l, cid, f->cb_reply);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->got = calloc(MAX_GOT, sizeof(*f->got));
	assert_non_null(f->got);
	strcpy(f->dir, "/tmp/opsbot-listener-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/alerts.sock", f->dir);
	f->o.path = f->path;
	f->o.mode = 0660;
	f->o.gid = (gid_t)-1;
	f->o.max_clients = 8;
	f->o.max_line = 1024;
	f->o.max_output = 65536;
	f->o.idle_ms = 0;
	f->o.max_lines_per_turn = 256;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->l != NULL)
		listener_close(f->l);
	unlink(f->path);
	rmdir(f->dir);
	free(f->got);
	free(f);
	return 0;
}

static void open_ok(struct fx *f)
{
	char err[256] = "";

	if (listener_open(&f->l, &f->o, err, sizeof(err)) != 0)
		fail_msg("listener_open: %s", err);
}

/* One loop turn: poll the listener's fds (timeout ms), then handle. */
static void pump(struct fx *f, int64_t now, int timeout)
{
	struct pollfd fds[64];
	size_t n;

	n = listener_pollfds(f->l, fds, ARRAY_LEN(fds));
	assert_true(poll(fds, n, timeout) >= 0);
	listener_handle(f->l, fds, n, now, on_line, f);
}

/* Pumps until at least want lines were handed out (or turns run out). */
static void pump_until(struct fx *f, int want, int64_t now)
{
	int turns;

	for (turns = 0; turns < 200 && f->ngot < want; turns++)
		pump(f, now, 50);
	assert_int_equal(f->ngot, want);
}

static int cli(struct fx *f)
{
	char err[256];
	int fd = listener_connect(f->path, err, sizeof(err));

	if (fd < 0)
		fail_msg("listener_connect: %s", err);
	return fd;
}

static void put(int fd, const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what arrives within timeout ms into buf; returns bytes, or -1 on
 * EOF with nothing read (*eof is set whenever EOF was seen). */
static ssize_t get(int fd, char *buf, size_t size, int timeout, int *eof)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	*eof = 0;
	while (len + 1 < size && poll(&p, 1, timeout) == 1) {
		n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0) {
			*eof = 1;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len == 0 && *eof ? -1 : (ssize_t)len;
}

static struct listener_stats stats(struct fx *f)
{
	struct listener_stats s;

	listener_get_stats(f->l, &s);
	return s;
}

static void test_split_across_writes(void **state)
{
	struct fx *f = *state;
	int fd;

	open_ok(f);
	fd = cli(f);
	put(fd, "{\"a\":");
	pump(f, 0, 100);
	pump(f, 0, 50);
	assert_int_equal(f->ngot, 0);
	put(fd, "1}\n{\"b\"");
	pump_until(f, 1, 0);
	assert_string_equal(f->got[0].s, "{\"a\":1}");
	put(fd, ":2}\n");
	pump_until(f, 2, 0);
	assert_string_equal(f->got[1].s, "{\"b\":2}");
	assert_int_equal(f->got[1].len, strlen("{\"b\":2}"));
	close(fd);
}

static void test_many_lines_one_write(void **state)
{
	struct fx *f = *state;
	char buf[8192], want[32];
	size_t len = 0;
	int fd, i;

	open_ok(f);
	fd = cli(f);
	for (i = 0; i < 300; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"line %d\n", i);
	put(fd, buf);
	pump_until(f, 300, 0);
	for (i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "line %d", i);
		assert_string_equal(f->got[i].s, want);
		assert_true(f->got[i].cid == f->got[0].cid);
	}
	close(fd);
}

static void test_crlf_and_empty_lines(void **state)
{
	struct fx *f = *state;
	int fd;

	open_ok(f);
	fd = cli(f);
	put(fd, "\n\r\nabc\r\n\n x\r\n\r\n");
	pump_until(f, 2, 0);
	pump(f, 0, 20);
	assert_int_equal(f->ngot, 2);
	assert_string_equal(f->got[0].s, "abc");
	assert_int_equal(f->got[0].len, 3);
	assert_string_equal(f->got[1].s, " x");
	close(fd);
}

static void test_overlong_line(void **state)
{
	struct fx *f = *state;
	char big[5000];
	int fd;

	open_ok(f);
	fd = cli(f);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(fd, big);
	put(fd, big);
	put(fd, "\n{\"ok\":1}\n");
	pump_until(f, 2, 0);
	pump(f, 0, 20);
	assert_int_equal(f->ngot, 2);
	assert_true(f->got[0].null);
	assert_true(f->got[0].len > f->o.max_line);
	assert_true(f->got[0].len <= f->o.max_line + READ_CHUNK);
	assert_false(f->got[1].null);
	assert_string_equal(f->got[1].s, "{\"ok\":1}");
	assert_int_equal(stats(f).overlong_lines, 1);
	/* Exactly max_line fits (even with "\r\n"); max_line + 1 does not. */
	memset(big, 'y', f->o.max_line);
	strcpy(big + f->o.max_line, "\r\n");
	put(fd, big);
	memset(big, 'z', f->o.max_line + 1);
	strcpy(big + f->o.max_line + 1, "\n");
	put(fd, big);
	put(fd, "after\n");
	pump_until(f, 5, 0);
	assert_false(f->got[2].null);
	assert_int_equal(f->got[2].len, f->o.max_line);
	assert_true(f->got[3].null);
	assert_int_equal(f->got[3].len, f->o.max_line + 1);
	assert_string_equal(f->got[4].s, "after");
	assert_int_equal(stats(f).overlong_lines, 2);
	assert_int_equal(stats(f).clients, 1);
	close(fd);
}

static void test_replies_in_order(void **state)
{
	struct fx *f = *state;
	char buf[256];
	int fd, eof, i;

	open_ok(f);
	fd = cli(f);
	put(fd, "a\nb\nc\n");
	pump_until(f, 3, 0);
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "{\"ok\":true,\"id\":%d}", i + 1);
		assert_int_equal(listener_reply(f->l, f->got[i].cid, buf), 0);
	}
	assert_true(get(fd, buf, sizeof(buf), 100, &eof) > 0);
	assert_string_equal(buf, "{\"ok\":true,\"id\":1}\n"
			    "{\"ok\":true,\"id\":2}\n{\"ok\":true,\"id\":3}\n");
	assert_false(eof);
	/* Unknown ids are refused quietly. */
	assert_int_equal(listener_reply(f->l, f->got[0].cid + 1, "x"), -1);
	assert_int_equal(listener_reply(f->l, 0, "x"), -1);
	close(fd);
}

static void test_half_close(void **state)
{
	struct fx *f = *state;
	char buf[256];
	int fd, eof;

	open_ok(f);
	fd = cli(f);
	put(fd, "one\ntwo\nthree");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	pump_until(f, 3, 0);
	assert_string_equal(f->got[2].s, "three");
	pump(f, 0, 20);
	assert_int_equal(stats(f).clients, 1);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "r1"), 0);
	assert_int_equal(listener_reply(f->l, f->got[1].cid, "r2"), 0);
	pump(f, 0, 20);
	assert_int_equal(stats(f).clients, 1);
	assert_true(get(fd, buf, sizeof(buf), 50, &eof) > 0);
	assert_string_equal(buf, "r1\nr2\n");
	assert_false(eof);
	assert_int_equal(listener_reply(f->l, f->got[2].cid, "r3"), 0);
	pump(f, 0, 20);
	assert_int_equal(stats(f).clients, 0);
	assert_true(get(fd, buf, sizeof(buf), 500, &eof) > 0);
	assert_string_equal(buf, "r3\n");
	assert_true(eof);
	close(fd);
}

static void test_too_many_clients(void **state)
{
	struct fx *f = *state;
	char buf[256], want[128];
	int fd[3], eof, i;

	f->o.max_clients = 2;
	open_ok(f);
	for (i = 0; i < 3; i++)
		fd[i] = cli(f);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 2);
	assert_int_equal(stats(f).refused_full, 1);
	assert_int_equal(stats(f).accepted, 2);
	snprintf(want, sizeof(want), "{\"ok\":false,\"error\":\"server: "
		 "too many clients (%d)\"}\n", f->o.max_clients);
	assert_true(get(fd[2], buf, sizeof(buf), 500, &eof) > 0);
	assert_string_equal(buf, want);
	assert_true(eof);
	/* The two accepted ones work. */
	put(fd[1], "hi\n");
	pump_until(f, 1, 0);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "ok"), 0);
	assert_true(get(fd[1], buf, sizeof(buf), 100, &eof) > 0);
	assert_string_equal(buf, "ok\n");
	for (i = 0; i < 3; i++)
		close(fd[i]);
}

static void test_slow_reader_closed(void **state)
{
	struct fx *f = *state;
	char line[1001];
	int fd, i, rc = 0;

	f->o.max_output = 4096;
	open_ok(f);
	fd = cli(f);
	put(fd, "x\n");
	pump_until(f, 1, 0);
	memset(line, 'r', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	/* The kernel buffers take some; then our 4 KiB; then we give up. */
	for (i = 0; i < 100000; i++) {
		rc = listener_reply(f->l, f->got[0].cid, line);
		if (rc != 0)
			break;
		assert_int_equal(stats(f).closed_output, 0);
	}
	assert_int_equal(rc, -1);
	assert_true(i > 4);
	assert_int_equal(stats(f).closed_output, 1);
	assert_int_equal(stats(f).clients, 0);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "x"), -1);
	close(fd);
}

static void test_idle_close(void **state)
{
	struct fx *f = *state;
	char buf[64];
	int fd, eof;

	f->o.idle_ms = 1000;
	open_ok(f);
	assert_true(listener_next_deadline(f->l) == INT64_MAX);
	fd = cli(f);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 1);
	assert_true(listener_next_deadline(f->l) == 1000);
	put(fd, "x\n");
	pump_until(f, 1, 100);
	/* Unanswered: never idle, whatever the clock says. */
	assert_true(listener_next_deadline(f->l) == INT64_MAX);
	pump(f, 50000, 0);
	assert_int_equal(stats(f).clients, 1);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "ok"), 0);
	/* The reply restarts the idle clock at the last `now`. */
	assert_true(listener_next_deadline(f->l) == 51000);
	pump(f, 50999, 0);
	assert_int_equal(stats(f).clients, 1);
	pump(f, 51000, 0);
	assert_int_equal(stats(f).clients, 0);
	assert_int_equal(stats(f).closed_idle, 1);
	assert_true(get(fd, buf, sizeof(buf), 500, &eof) > 0);
	assert_string_equal(buf, "ok\n");
	assert_true(eof);
	close(fd);
}

static void test_fairness_backlog(void **state)
{
	struct fx *f = *state;
	char buf[256];
	uint64_t a, b;
	int fd[3], i, seen_a = 0, seen_b = 0, na = 0, nb = 0;
	size_t len = 0;

	f->o.max_lines_per_turn = 5;
	open_ok(f);
	fd[0] = cli(f);
	fd[1] = cli(f);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 2);
	for (i = 0; i < 8; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"%d\n", i);
	put(fd[0], buf);
	put(fd[1], buf);
	pump(f, 0, 100);
	/* Both readable before poll: one turn reads both, hands out 5. */
	assert_int_equal(f->ngot, 5);
	assert_int_equal(listener_backlog(f->l), 1);
	/* A new connection waits: n == 0 only drains buffered lines. */
	fd[2] = cli(f);
	listener_handle(f->l, NULL, 0, 0, on_line, f);
	assert_int_equal(f->ngot, 10);
	assert_int_equal(listener_backlog(f->l), 1);
	listener_handle(f->l, NULL, 0, 0, on_line, f);
	assert_int_equal(f->ngot, 15);
	listener_handle(f->l, NULL, 0, 0, on_line, f);
	assert_int_equal(f->ngot, 16);
	assert_int_equal(listener_backlog(f->l), 0);
	assert_int_equal(stats(f).accepted, 2);
	a = f->got[0].cid;
	b = 0;
	for (i = 0; i < 16; i++) {
		if (f->got[i].cid != a)
			b = f->got[i].cid;
		if (i < 10) {
			seen_a |= f->got[i].cid == a;
			seen_b |= f->got[i].cid != a;
		}
	}
	assert_true(seen_a && seen_b);
	/* Per client: every line, in order. */
	for (i = 0; i < 16; i++) {
		int *k = f->got[i].cid == a ? &na : &nb;

		assert_true(f->got[i].cid == a || f->got[i].cid == b);
		snprintf(buf, sizeof(buf), "%d", (*k)++);
		assert_string_equal(f->got[i].s, buf);
	}
	assert_int_equal(na, 8);
	assert_int_equal(nb, 8);
	pump(f, 0, 100);
	assert_int_equal(stats(f).accepted, 3);
	for (i = 0; i < 3; i++)
		close(fd[i]);
}

static void test_ids_monotonic(void **state)
{
	struct fx *f = *state;
	uint64_t prev = 0;
	int i, fd;

	f->o.max_clients = 2;
	open_ok(f);
	/* Slots get reused; ids never are. */
	for (i = 0; i < 6; i++) {
		fd = cli(f);
		put(fd, "x\n");
		pump_until(f, i + 1, 0);
		assert_true(f->got[i].cid > prev);
		prev = f->got[i].cid;
		assert_int_equal(listener_reply(f->l, prev, "ok"), 0);
		close(fd);
		pump(f, 0, 100);
		assert_int_equal(stats(f).clients, 0);
		assert_int_equal(listener_reply(f->l, prev, "ok"), -1);
	}
}

static void test_peer_credentials(void **state)
{
	struct fx *f = *state;
	int fd;

	open_ok(f);
	fd = cli(f);
	put(fd, "x\n");
	pump_until(f, 1, 0);
	assert_true(f->got[0].peer.uid == (int64_t)getuid());
	assert_true(f->got[0].peer.gid == (int64_t)getgid());
	assert_true(f->got[0].peer.pid == (int64_t)getpid());
	close(fd);
}

static void test_stale_socket_replaced(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(fill_addr(&sa, f->path, NULL, 0), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* a crash: the file stays, nobody listens */
	assert_int_equal(lstat(f->path, &st), 0);
	open_ok(f);
	fd = cli(f);
	put(fd, "x\n");
	pump_until(f, 1, 0);
	close(fd);
}

static void test_live_listener_refused(void **state)
{
	struct fx *f = *state;
	struct listener *l2 = NULL;
	char err[256], want[256];
	int fd;

	open_ok(f);
	assert_int_equal(listener_open(&l2, &f->o, err, sizeof(err)), -1);
	assert_null(l2);
	snprintf(want, sizeof(want), "another process is listening on %s "
		 "(is opsbot already running?)", f->path);
	assert_string_equal(err, want);
	/* The first one is untouched. */
	fd = cli(f);
	put(fd, "x\n");
	pump_until(f, 1, 0);
	close(fd);
}

static void test_not_a_socket_refused(void **state)
{
	struct fx *f = *state;
	struct listener *l = NULL;
	char err[256], want[256];
	int fd;

	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(listener_open(&l, &f->o, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s exists and is not a socket",
		 f->path);
	assert_string_equal(err, want);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void test_path_too_long(void **state)
{
	struct fx *f = *state;
	struct listener_opts o = f->o;
	struct listener *l = NULL;
	char path[200], err[512], want[512];
	int fd;

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	o.path = path;
	assert_int_equal(listener_open(&l, &o, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "socket path too long (%zu bytes, max "
		 "107): %s", strlen(path), path);
	assert_string_equal(err, want);
	/* 108 bytes does not fit either; the client side agrees. */
	path[108] = '\0';
	assert_int_equal(listener_open(&l, &o, err, sizeof(err)), -1);
	fd = listener_connect(path, err, sizeof(err));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err, "too long (108 bytes"));
}

static void test_socket_mode(void **state)
{
	struct fx *f = *state;
	struct stat st;
	mode_t old, cur;

	old = umask(0);
	open_ok(f);
	cur = umask(old);
	assert_int_equal(cur, 0); /* restored after bind */
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	listener_close(f->l);
	f->l = NULL;
	/* A narrower mode is honoured too, whatever the umask. */
	f->o.mode = 0600;
	old = umask(0077);
	open_ok(f);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_close_unlinks(void **state)
{
	struct fx *f = *state;

	open_ok(f);
	assert_int_equal(access(f->path, F_OK), 0);
	listener_close(f->l);
	f->l = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_close_keeps_foreign_socket(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa;
	int fd;

	open_ok(f);
	/* Someone removed ours and bound their own at the same path. */
	assert_int_equal(unlink(f->path), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(fill_addr(&sa, f->path, NULL, 0), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	listener_close(f->l);
	f->l = NULL;
	assert_int_equal(access(f->path, F_OK), 0);
	close(fd);
}

static void test_stop_keeps_clients(void **state)
{
	struct fx *f = *state;
	char buf[64], err[256];
	int fd, eof;

	open_ok(f);
	fd = cli(f);
	put(fd, "x\n");
	pump_until(f, 1, 0);
	listener_stop(f->l);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(listener_connect(f->path, err, sizeof(err)), -1);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "ok"), 0);
	assert_true(get(fd, buf, sizeof(buf), 100, &eof) > 0);
	assert_string_equal(buf, "ok\n");
	assert_int_equal(stats(f).clients, 1);
	close(fd);
}

static void test_connect_error(void **state)
{
	struct fx *f = *state;
	char err[256], want[256];

	assert_int_equal(listener_connect(f->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot connect to %s: %s. Is opsbot "
		 "running?", f->path, strerror(ENOENT));
	assert_string_equal(err, want);
}

static void test_peer_gone_lines_kept(void **state)
{
	struct fx *f = *state;
	int fd;

	open_ok(f);
	fd = cli(f);
	/* A one-shot client that does not wait for its replies. */
	put(fd, "a\nb\n");
	close(fd);
	pump_until(f, 2, 0);
	assert_string_equal(f->got[1].s, "b");
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "r"), -1);
	assert_int_equal(stats(f).clients, 1);
	assert_int_equal(listener_reply(f->l, f->got[1].cid, "r"), -1);
	pump(f, 0, 100);
	pump(f, 0, 0);
	assert_int_equal(stats(f).clients, 0);
}

static void test_reply_inside_callback(void **state)
{
	struct fx *f = *state;
	char buf[256];
	int fd, eof;

	open_ok(f);
	fd = cli(f);
	f->cb_reply = "{\"ok\":true}";
	put(fd, "a\nb\nc\n");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	pump_until(f, 3, 0);
	assert_int_equal(f->cb_rc[0] | f->cb_rc[1] | f->cb_rc[2], 0);
	pump(f, 0, 50);
	assert_int_equal(stats(f).clients, 0);
	assert_true(get(fd, buf, sizeof(buf), 500, &eof) > 0);
	assert_string_equal(buf, "{\"ok\":true}\n{\"ok\":true}\n"
			    "{\"ok\":true}\n");
	assert_true(eof);
	close(fd);
}

/* Closed for output while its own callback runs: the close waits for the
 * callback to return and no further line of it is handed out. */
static void test_overflow_inside_callback(void **state)
{
	struct fx *f = *state;
	char big[200];
	int fd, eof;

	f->o.max_output = 64;
	open_ok(f);
	fd = cli(f);
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	f->cb_reply = big;
	put(fd, "a\nb\nc\n");
	pump_until(f, 1, 0);
	pump(f, 0, 20);
	assert_int_equal(f->ngot, 1);
	assert_int_equal(f->cb_rc[0], -1);
	assert_int_equal(stats(f).closed_output, 1);
	assert_int_equal(stats(f).clients, 0);
	assert_int_equal(get(fd, big, sizeof(big), 500, &eof), -1);
	assert_true(eof);
	close(fd);
}

/* A fast writer against a cap of one line per turn: the input buffer
 * fills up to its bound but never past it (the kernel holds the rest),
 * and no line is lost or reordered. */
static void test_input_bounded(void **state)
{
	struct fx *f = *state;
	size_t sent = 0, total, bound, high = 0;
	int fd, i, k, turns = 0;
	char want[16];
	ssize_t n;
	char *all;

	f->o.max_lines_per_turn = 1;
	open_ok(f);
	fd = cli(f);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	total = (size_t)MAX_GOT * 100;
	all = malloc(total);
	assert_non_null(all);
	memset(all, 'q', total);
	for (i = 0; i < MAX_GOT; i++) {
		snprintf(want, sizeof(want), "%04d", i);
		memcpy(all + (size_t)i * 100, want, 4);
		all[(size_t)i * 100 + 99] = '\n';
	}
	bound = f->o.max_line + READ_CHUNK;
	while (f->ngot < MAX_GOT && turns++ < 100000) {
		if (sent < total) {
			n = send(fd, all + sent, total - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		if (listener_backlog(f->l))
			listener_handle(f->l, NULL, 0, 0, on_line, f);
		else
			pump(f, 0, 10);
		for (k = 0; k < f->o.max_clients; k++) {
			assert_true(f->l->cl[k].in.len <= bound);
			if (f->l->cl[k].in.len > high)
				high = f->l->cl[k].in.len;
		}
	}
	assert_int_equal(f->ngot, MAX_GOT);
	assert_true(high > f->o.max_line);
	for (i = 0; i < MAX_GOT; i++) {
		assert_int_equal(f->got[i].len, 99);
		snprintf(want, sizeof(want), "%04d", i);
		assert_memory_equal(f->got[i].s, want, 4);
	}
	free(all);
	close(fd);
}

static void test_per_uid_limit(void **state)
{
	struct fx *f = *state;
	char buf[256], want[160];
	int fd[4], eof, i;

	f->o.max_clients = 8;
	f->o.max_clients_per_uid = 2;
	open_ok(f);
	for (i = 0; i < 3; i++)
		fd[i] = cli(f);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 2);
	assert_int_equal(stats(f).refused_uid, 1);
	assert_int_equal(stats(f).refused_full, 0);
	snprintf(want, sizeof(want), "{\"ok\":false,\"error\":\"peer: uid %lld "
		 "has too many connections (max 2)\"}\n", (long long)getuid());
	assert_true(get(fd[2], buf, sizeof(buf), 500, &eof) > 0);
	assert_string_equal(buf, want);
	assert_true(eof);
	/* A slot of that uid freed: the next connection is taken. */
	close(fd[0]);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 1);
	fd[3] = cli(f);
	pump(f, 0, 100);
	assert_int_equal(stats(f).clients, 2);
	assert_int_equal(stats(f).refused_uid, 1);
	for (i = 1; i < 4; i++)
		close(fd[i]);
}

/* Output held by every client, counted from the client table itself. */
static size_t held_now(const struct fx *f)
{
	size_t t = 0;
	int i;

	for (i = 0; i < f->l->ncl; i++)
		if (f->l->cl[i].fd >= 0)
			t += f->l->cl[i].out.cap;
	return t;
}

struct amp {
	struct fx *f;
	uint64_t keep;		/* this client gets ok replies */
	size_t keep_upto;	/* ... while it holds less than this */
	uint64_t lines;
};

#define BAD_REPLY "{\"ok\":false,\"error\":\"line: not JSON (expected " \
	"an object like {\\\"text\\\":\\\"...\\\"})\"}"

/* Answers every line at once: ok replies (padded) to amp->keep, error
 * replies to everyone else, like the daemon answers bad lines. */
static void on_line_amp(void *arg, uint64_t cid, const struct peer *peer,
			const char *line, size_t len)
{
	struct amp *a = arg;
	struct client *c;
	char ok[512];

	a->lines++;
	if (cid != a->keep) {
		listener_reply(a->f->l, cid, BAD_REPLY);
		return;
	}
	c = find_client(a->f->l, cid);
	if (c == NULL || c->out.len >= a->keep_upto)
		return;
	snprintf(ok, sizeof(ok), "{\"ok\":true,\"id\":%llu,\"pad\":\"%0400d\"}",
		 (unsigned long long)a->lines, 0);
	listener_reply(a->f->l, cid, ok);
}

static void pump_amp(struct fx *f, struct amp *a, int turns)
{
	struct pollfd fds[80];
	size_t n;
	int i, r, quiet = 0;

	for (i = 0; i < turns && quiet < 3; i++) {
		n = listener_pollfds(f->l, fds, ARRAY_LEN(fds));
		r = poll(fds, n, listener_backlog(f->l) ? 0 : 5);
		assert_true(r >= 0);
		quiet = r == 0 && !listener_backlog(f->l) ? quiet + 1 : 0;
		listener_handle(f->l, fds, n, 0, on_line_amp, a);
		/* The bound holds after every turn, and the listener's own
		 * count agrees with its table. */
		assert_true(held_now(f) <= f->o.max_output_total);
		assert_int_equal(stats(f).output_held, held_now(f));
	}
}

/* Writes n copies of line to fd (never-readers: input only). */
static void put_many(int fd, const char *line, int n)
{
	size_t len = strlen(line), total = len * (size_t)n, off = 0;
	char *all = malloc(total);
	ssize_t w;
	int i;

	assert_non_null(all);
	for (i = 0; i < n; i++)
		memcpy(all + len * (size_t)i, line, len);
	while (off < total) {
		w = send(fd, all + off, total - off, MSG_NOSIGNAL);
		assert_true(w > 0);
		off += (size_t)w;
	}
	free(all);
}

/* 24 clients that never read send 2-byte bad lines: each one's error
 * replies would fill its own max_output, 24 x 64 KiB in all. The global
 * budget (256 KiB) holds after every turn. */
static void test_output_budget(void **state)
{
	struct fx *f = *state;
	struct amp a = { .f = f };
	int fd[24], i;

	f->o.max_clients = 64;
	f->o.max_clients_per_uid = 64;
	f->o.max_output = 65536;
	f->o.max_output_total = 262144;
	open_ok(f);
	for (i = 0; i < 24; i++) {
		fd[i] = cli(f);
		/* 4000 replies of ~90 bytes: more than the kernel takes */
		put_many(fd[i], "x\n", 4000);
	}
	pump_amp(f, &a, 600);
	assert_true(a.lines > 4000);
	assert_true(stats(f).closed_output_total > 0);
	for (i = 0; i < 24; i++)
		close(fd[i]);
	pump_amp(f, &a, 5);
	assert_int_equal(stats(f).clients, 0);
	assert_int_equal(stats(f).output_held, 0);
}

/* A never-reader whose replies are acks holds the most output, yet the
 * clients holding only error replies are closed first. */
static void test_output_budget_errors_first(void **state)
{
	struct fx *f = *state;
	struct amp a = { .f = f, .keep_upto = 100000 };
	struct client *k;
	int keep, fd[8], i;

	f->o.max_clients = 64;
	f->o.max_clients_per_uid = 64;
	f->o.max_output = 131072;
	f->o.max_output_total = 196608;
	open_ok(f);
	keep = cli(f);
	pump(f, 0, 50); /* accepted: its cid is the first */
	a.keep = f->l->seq << f->l->slot_bits;
	put_many(keep, "a\n", 800);
	pump_amp(f, &a, 100);
	k = find_client(f->l, a.keep);
	assert_non_null(k);
	assert_true(k->out.len >= 60000);
	for (i = 0; i < 8; i++) {
		fd[i] = cli(f);
		put_many(fd[i], "x\n", 4000);
	}
	pump_amp(f, &a, 600);
	assert_true(stats(f).closed_output_total > 0);
	/* The acks' client is still there, with what it held. */
	k = find_client(f->l, a.keep);
	assert_non_null(k);
	assert_true(k->out.len >= 60000);
	for (i = 0; i < 8; i++)
		close(fd[i]);
	close(keep);
}

/* Buffers are freed as soon as they are drained: idle clients hold no
 * input or reply memory. */
static void test_buffers_released(void **state)
{
	struct fx *f = *state;
	char buf[256];
	int fd, eof;

	open_ok(f);
	fd = cli(f);
	put(fd, "hello\n");
	pump_until(f, 1, 0);
	assert_int_equal(listener_reply(f->l, f->got[0].cid, "ok"), 0);
	assert_true(get(fd, buf, sizeof(buf), 100, &eof) > 0);
	assert_int_equal(f->l->cl[f->got[0].cid & 7].in.cap, 0);
	assert_int_equal(f->l->cl[f->got[0].cid & 7].out.cap, 0);
	assert_int_equal(stats(f).output_held, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_split_across_writes),
		T(test_many_lines_one_write),
		T(test_crlf_and_empty_lines),
		T(test_overlong_line),
		T(test_replies_in_order),
		T(test_half_close),
		T(test_too_many_clients),
		T(test_slow_reader_closed),
		T(test_idle_close),
		T(test_fairness_backlog),
		T(test_ids_monotonic),
		T(test_peer_credentials),
		T(test_stale_socket_replaced),
		T(test_live_listener_refused),
		T(test_not_a_socket_refused),
		T(test_path_too_long),
		T(test_socket_mode),
		T(test_close_unlinks),
		T(test_close_keeps_foreign_socket),
		T(test_stop_keeps_clients),
		T(test_connect_error),
		T(test_peer_gone_lines_kept),
		T(test_reply_inside_callback),
		T(test_overflow_inside_callback),
		T(test_input_bounded),
		T(test_per_uid_limit),
		T(test_output_budget),
		T(test_output_budget_errors_first),
		T(test_buffers_released),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
