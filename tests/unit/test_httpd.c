/*
 * test_httpd.c - unit tests for alerts/httpd.c and alerts/httpaddr.c: a
 * real libmicrohttpd on 127.0.0.1:0 driven by this test's own poll loop,
 * as the daemon drives it, with raw non-blocking client sockets. Checks
 * what reaches the callback, answers given now or turns later, every
 * status the leaf gives itself (401, 405, 411, 413, 431, 503), the
 * connection limit, the idle timeout and the listen address rules.
 *
 * MHD's timers run on the real monotonic clock, so the loop uses it too;
 * every wait is bounded (WAIT_MS), and only the timeout test waits ~1 s.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "alerts/httpd.c"

#include <arpa/inet.h>
#include <time.h>

#define WAIT_MS 3000
#define MAX_GOT 8
#define TOKEN "s3cret-Token_123"

struct got {
	struct httpd_req *req;
	char method[16];
	char path[128];
	char body[4096];
	size_t len;
};

struct fx {
	struct httpd *h;
	struct got got[MAX_GOT];
	int ngot;
	/* if set, the callback answers at once with these */
	int now_status;
	const char *now_body;
};

struct resp {
	int status;       /* 0 = none (closed first or timed out) */
	char head[4096];
	char body[4096];
	int closed;       /* the server closed the connection */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_request(void *arg, struct httpd_req *req, const char *method,
		       const char *path, const char *body, size_t len)
{
	struct fx *f = arg;
	struct got *g;

	assert_true(f->ngot < MAX_GOT);
	g = &f->got[f->ngot++];
	g->req = req;
	snprintf(g->method, sizeof(g->method), "%s", method);
	snprintf(g->path, sizeof(g->path), "%s", path);
	assert_true(len < sizeof(g->body));
	assert_int_equal(strlen(body), len); /* NUL-terminated copy */
	memcpy(g->body, body, len + 1);
	g->len = len;
	if (f->now_status != 0)
		httpd_respond(req, f->now_status, "text/plain", f->now_body);
}

static void fx_open(struct fx *f, const struct httpd_opts *o)
{
	char err[256];

	memset(f, 0, sizeof(*f));
	if (httpd_open(&f->h, o, on_request, f, err, sizeof(err)) != 0)
		fail_msg("httpd_open: %s", err);
	assert_true(httpd_port(f->h) > 0);
}

static void fx_open_default(struct fx *f)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0" };

	fx_open(f, &o);
}

/* One loop turn as the daemon does it: httpd's fds (and the client's, so
 * that the turn ends when the client has something), a timeout from
 * httpd_next_deadline capped at cap_ms, then httpd_handle. */
static void turn(struct fx *f, int cfd, int cap_ms)
{
	struct pollfd fds[4];
	size_t n = httpd_pollfds(f->h, fds, 3);
	int64_t now = mono_ms(), due = httpd_next_deadline(f->h, now);
	int timeout = cap_ms;

	if (due != INT64_MAX && due - now < timeout)
		timeout = due <= now ? 0 : (int)(due - now);
	if (cfd >= 0) {
		fds[n].fd = cfd;
		fds[n].events = POLLIN;
		fds[n].revents = 0;
	}
	assert_true(poll(fds, n + (cfd >= 0), timeout) >= 0);
	httpd_handle(f->h, fds, n, mono_ms());
}

static int cli_connect(struct fx *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)httpd_port(f->h));
	/* Loopback connects complete in the kernel (backlog) at once. */
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* Writes everything, turning the loop while the socket is full. */
static void cli_send(struct fx *f, int fd, const char *data, size_t len)
{
	int64_t end = mono_ms() + WAIT_MS;

	while (len > 0) {
		ssize_t w = send(fd, data, len, MSG_NOSIGNAL);

		if (w > 0) {
			data += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return; /* the server closed: the read will say */
		assert_true(mono_ms() < end);
		turn(f, -1, 10);
	}
}

static void cli_sends(struct fx *f, int fd, const char *s)
{
	cli_send(f, fd, s, strlen(s));
}

/* 1 once buf holds a whole response (headers and Content-Length body). */
static int resp_complete(struct resp *r, const char *buf, size_t len)
{
	const char *eoh = strstr(buf, "\r\n\r\n"), *cl;
	size_t hlen, blen = 0;

	if (eoh == NULL)
		return 0;
	hlen = (size_t)(eoh - buf) + 4;
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl != NULL && cl < eoh)
		blen = strtoul(cl + 17, NULL, 10);
	if (len < hlen + blen)
		return 0;
	snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, buf);
	snprintf(r->body, sizeof(r->body), "%.*s", (int)blen, buf + hlen);
	r->status = (int)strtol(buf + 9, NULL, 10);
	return 1;
}

/* Turns the loop until the client has a whole response or sees the
 * connection closed, at most max_ms. Returns the status (0 = none). */
static int cli_response(struct fx *f, int fd, struct resp *r, int max_ms)
{
	char buf[8192];
	size_t len = 0;
	int64_t end = mono_ms() + max_ms;

	memset(r, 0, sizeof(*r));
	while (mono_ms() < end) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (resp_complete(r, buf, len))
				return r->status;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->closed = 1;
			return r->status;
		}
		turn(f, fd, 50);
	}
	return r->status;
}

/* Turns the loop until the server closes fd (after any response). 1 if
 * it did within max_ms. */
static int cli_closed(struct fx *f, int fd, int max_ms)
{
	char buf[4096];
	int64_t end = mono_ms() + max_ms;

	while (mono_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (n < 0)
			turn(f, fd, 50);
	}
	return 0;
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

static void assert_has(const char *hay, const char *needle)
{
	if (strcasestr(hay, needle) == NULL)
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* ---- tests ------------------------------------------------------------- */

/* A POST reaches the callback with its exact body; answered turns later,
 * the client gets that answer, and the answer wakes the loop itself. */
static void test_post_answered_later(void **state)
{
	static const char body[] = "{\"title\":\"disk \\u00e9 full\",\"n\":[1,2]}";
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	struct pollfd fds[2];
	char req[512];
	int fd;

	(void)state;
	fx_open_default(&f);
	fd = cli_connect(&f);
	snprintf(req, sizeof(req), "POST /api/v1/alerts?x=1 HTTP/1.1\r\n"
		 "Host: t\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	cli_sends(&f, fd, req);
	/* No answer: the client waits; the request is parked. */
	assert_int_equal(cli_response(&f, fd, &r, 300), 0);
	assert_false(r.closed);
	assert_int_equal(f.ngot, 1);
	assert_string_equal(f.got[0].method, "POST");
	assert_string_equal(f.got[0].path, "/api/v1/alerts");
	assert_int_equal(f.got[0].len, strlen(body));
	assert_string_equal(f.got[0].body, body);
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.parked, 1);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.conns, 1);
	for (int i = 0; i < 5; i++)
		turn(&f, -1, 0);
	assert_int_equal(recv(fd, req, sizeof(req), 0), -1);

	httpd_respond(f.got[0].req, 200, "application/json",
		      "{\"ok\":true,\"ids\":[7]}");
	/* The loop needs no help: the deadline is now (MHD's resume does
	 * not make its epoll fd readable), and one turn sends it. */
	{
		int64_t now = mono_ms();

		assert_true(httpd_next_deadline(f.h, now) <= now);
		httpd_pollfds(f.h, fds, 1);
		httpd_handle(f.h, fds, 1, now);
		assert_true(recv(fd, req, 9, MSG_PEEK) == 9);
	}
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 200);
	assert_string_equal(r.body, "{\"ok\":true,\"ids\":[7]}");
	assert_has(r.head, "Content-Type: application/json");
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.parked, 0);

	/* Keep-alive: a second request on the same connection. */
	cli_sends(&f, fd, "POST /b HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 0\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, 300), 0);
	assert_int_equal(f.ngot, 2);
	assert_string_equal(f.got[1].body, "");
	assert_int_equal(f.got[1].len, 0);
	httpd_respond(f.got[1].req, 400, NULL, "{\"ok\":false}");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 400);
	assert_string_equal(r.body, "{\"ok\":false}");
	close(fd);
	httpd_close(f.h);
}

/* GET answered from inside the callback: never parked. */
static void test_get_answered_at_once(void **state)
{
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	int fd;

	(void)state;
	fx_open_default(&f);
	f.now_status = 200;
	f.now_body = "opsbot_up 1\n";
	fd = cli_connect(&f);
	cli_sends(&f, fd, "GET /metrics?debug=1 HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 200);
	assert_string_equal(r.body, "opsbot_up 1\n");
	assert_has(r.head, "Content-Type: text/plain");
	assert_int_equal(f.ngot, 1);
	assert_string_equal(f.got[0].method, "GET");
	assert_string_equal(f.got[0].path, "/metrics");
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.parked, 0);
	/* Idle: no busy loop. An open keep-alive connection only needs a
	 * turn at its timeout (10 s); none at all, only the fd. */
	for (int i = 0; i < 3; i++)
		turn(&f, -1, 0);
	assert_true(httpd_next_deadline(f.h, mono_ms()) - mono_ms() > 5000);
	close(fd);
	for (int i = 0; i < 50 && st.conns > 0; i++) {
		turn(&f, -1, 20);
		httpd_get_stats(f.h, &st);
	}
	assert_int_equal(st.conns, 0);
	turn(&f, -1, 0);
	assert_true(httpd_next_deadline(f.h, mono_ms()) == INT64_MAX);
	httpd_close(f.h);
}

static void post_with_auth(struct fx *f, const char *auth, struct resp *r)
{
	char req[512];
	int fd = cli_connect(f);

	snprintf(req, sizeof(req), "POST /api/v1/alerts HTTP/1.1\r\nHost: t\r\n"
		 "%s%s%sContent-Length: 2\r\n\r\n{}", auth ? "Authorization: " :
		 "", auth ? auth : "", auth ? "\r\n" : "");
	cli_sends(f, fd, req);
	cli_response(f, fd, r, WAIT_MS);
	close(fd);
}

static void test_auth(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .token = TOKEN };
	struct fx f;
	struct resp r;
	struct httpd_stats st;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";

	post_with_auth(&f, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_has(r.head, "WWW-Authenticate: Bearer");
	assert_has(r.head, "Content-Type: application/json");
	assert_string_equal(r.body,
			    "{\"ok\":false,\"error\":\"auth: bearer token required\"}");

	post_with_auth(&f, "Bearer wrong", &r);
	assert_int_equal(r.status, 401);
	assert_null(strstr(r.head, TOKEN));
	assert_null(strstr(r.body, TOKEN));
	post_with_auth(&f, "Bearer " TOKEN "x", &r);   /* longer */
	assert_int_equal(r.status, 401);
	post_with_auth(&f, "Bearer s3cret", &r);       /* a prefix */
	assert_int_equal(r.status, 401);
	post_with_auth(&f, "Basic " TOKEN, &r);        /* other scheme */
	assert_int_equal(r.status, 401);
	assert_int_equal(f.ngot, 0);

	post_with_auth(&f, "Bearer " TOKEN, &r);
	assert_int_equal(r.status, 200);
	post_with_auth(&f, "bearer  " TOKEN, &r);      /* scheme is caseless */
	assert_int_equal(r.status, 200);
	assert_int_equal(f.ngot, 2);
	assert_string_equal(f.got[0].body, "{}");

	/* GET needs no token (metrics, health). */
	{
		int fd = cli_connect(&f);

		cli_sends(&f, fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
		assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 200);
		close(fd);
	}
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.rejected_auth, 5);
	assert_int_equal(st.requests, 3);
	httpd_close(f.h);
}

static void test_too_large_content_length(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .max_body = 100 };
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	char body[101];
	int fd;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";
	/* Declared over the limit: refused before any body is sent, and
	 * the connection closed (the body is never read). */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /a HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 101\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 413);
	assert_string_equal(r.body,
			    "{\"ok\":false,\"error\":\"size: body over the limit\"}");
	assert_true(cli_closed(&f, fd, WAIT_MS));
	close(fd);
	/* A huge number too. */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /a HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 99999999999999999999999\r\n\r\n");
	cli_response(&f, fd, &r, WAIT_MS);
	assert_true(r.status == 413 || r.status == 400);
	close(fd);
	/* Exactly the limit is fine. */
	memset(body, 'x', 100);
	body[100] = '\0';
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /a HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 100\r\n\r\n");
	cli_sends(&f, fd, body);
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 200);
	assert_int_equal(f.ngot, 1);
	assert_string_equal(f.got[0].body, body);
	close(fd);
	httpd_get_stats(f.h, &st);
	assert_true(st.rejected_size >= 1);
	assert_int_equal(st.requests, 1);
	httpd_close(f.h);
}

/* Sends body as chunks of at most step bytes. */
static void send_chunked(struct fx *f, int fd, const char *body, size_t step)
{
	char hdr[32];
	size_t len = strlen(body);

	cli_sends(f, fd, "POST /c HTTP/1.1\r\nHost: t\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;

		snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
		cli_sends(f, fd, hdr);
		cli_send(f, fd, body + off, n);
		cli_sends(f, fd, "\r\n");
		turn(f, -1, 0);
	}
	cli_sends(f, fd, "0\r\n\r\n");
}

static void test_chunked(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .max_body = 64 };
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	char big[101];
	int fd;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";
	/* Within the limit: the callback gets the chunks joined. */
	fd = cli_connect(&f);
	send_chunked(&f, fd, "[{\"title\":\"a\"},{\"title\":\"b\"}]", 7);
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 200);
	assert_int_equal(f.ngot, 1);
	assert_string_equal(f.got[0].body,
			    "[{\"title\":\"a\"},{\"title\":\"b\"}]");
	close(fd);
	/* Over it: 413, the callback never sees it. */
	memset(big, 'y', 100);
	big[100] = '\0';
	fd = cli_connect(&f);
	send_chunked(&f, fd, big, 30);
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 413);
	assert_int_equal(f.ngot, 1);
	close(fd);
	/* Far over it (more than twice): dropped without an answer. */
	{
		char huge[1001];

		memset(huge, 'z', 1000);
		huge[1000] = '\0';
		fd = cli_connect(&f);
		send_chunked(&f, fd, huge, 100);
		assert_true(cli_closed(&f, fd, WAIT_MS));
		assert_int_equal(f.ngot, 1);
		close(fd);
	}
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.rejected_size, 1);
	httpd_close(f.h);
}

static void test_methods_and_length(void **state)
{
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	int fd;

	(void)state;
	fx_open_default(&f);
	fd = cli_connect(&f);
	cli_sends(&f, fd, "PUT /api/v1/alerts HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 2\r\n\r\n{}");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 405);
	assert_has(r.head, "Allow: GET, POST");
	assert_has(r.body, "\"ok\":false");
	close(fd);

	fd = cli_connect(&f);
	cli_sends(&f, fd, "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 405);
	close(fd);

	/* POST with neither Content-Length nor chunked. */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /api/v1/alerts HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 411);
	assert_has(r.body, "length: Content-Length or chunked");
	close(fd);

	/* Two lengths, or a length and chunked: which body is meant? */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
		  "Content-Length: 3\r\n\r\n{}");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 400);
	assert_has(r.body, "more than one Content-Length");
	close(fd);
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 400);
	close(fd);

	/* A malformed header line: libmicrohttpd's own 400. */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "GET / HTTP/1.1\r\nno colon here\r\n\r\n");
	assert_int_equal(cli_response(&f, fd, &r, WAIT_MS), 400);
	close(fd);
	/* No request line at all: closed without an answer. */
	fd = cli_connect(&f);
	cli_sends(&f, fd, "GARBAGE\r\n\r\n");
	assert_true(cli_closed(&f, fd, WAIT_MS));
	close(fd);

	assert_int_equal(f.ngot, 0);
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.rejected_other, 5);
	assert_true(st.mhd_errors >= 1); /* counted, never printed */
	assert_int_equal(st.requests, 0);
	httpd_close(f.h);
}

static void test_header_limit(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .max_header = 2048 };
	struct fx f;
	struct resp r;
	char big[8192];
	int fd;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";
	memset(big, 'h', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	fd = cli_connect(&f);
	cli_sends(&f, fd, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	cli_sends(&f, fd, big);
	cli_sends(&f, fd, "\r\n\r\n");
	cli_response(&f, fd, &r, WAIT_MS);
	/* 431 (or a plain close), never the callback */
	assert_true(r.status == 431 || (r.status == 0 && r.closed));
	assert_int_equal(f.ngot, 0);
	close(fd);
	httpd_close(f.h);
}

static void test_connection_limit(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .max_conns = 2 };
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	int a, b, c, d;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";
	a = cli_connect(&f);
	b = cli_connect(&f);
	for (int i = 0; i < 20; i++) {
		turn(&f, -1, 10);
		httpd_get_stats(f.h, &st);
		if (st.conns == 2)
			break;
	}
	assert_int_equal(st.conns, 2);
	/* The third waits in the backlog: not served, not closed. */
	c = cli_connect(&f);
	cli_sends(&f, c, "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, c, &r, 300), 0);
	assert_false(r.closed);
	httpd_get_stats(f.h, &st);
	assert_int_equal(st.conns, 2);
	/* The first two still work. */
	cli_sends(&f, a, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, a, &r, WAIT_MS), 200);
	cli_sends(&f, b, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, b, &r, WAIT_MS), 200);
	/* One leaves: the third is taken in and served (this needs the
	 * extra MHD_run after a close, see httpd_connection). */
	close(a);
	assert_int_equal(cli_response(&f, c, &r, WAIT_MS), 200);
	assert_string_equal(f.got[f.ngot - 1].path, "/c");
	close(b);
	close(c);
	/* And after all have gone, a new one too. */
	d = cli_connect(&f);
	cli_sends(&f, d, "GET /d HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, d, &r, WAIT_MS), 200);
	close(d);
	httpd_close(f.h);
}

/* Half a request, then silence: closed at the timeout, and meanwhile
 * other clients are served. */
static void test_slow_client_timeout(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .timeout_s = 1 };
	struct fx f;
	struct resp r;
	int64_t t0;
	int slow, fast;

	(void)state;
	fx_open(&f, &o);
	f.now_status = 200;
	f.now_body = "ok";
	t0 = mono_ms();
	slow = cli_connect(&f);
	cli_sends(&f, slow, "POST /api/v1/alerts HTTP/1.1\r\nHost: t\r\n"
		  "Content-Len");
	fast = cli_connect(&f);
	cli_sends(&f, fast, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_int_equal(cli_response(&f, fast, &r, WAIT_MS), 200);
	/* served while the slow one is still waiting, not after it */
	assert_int_equal(recv(slow, r.head, 1, 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(cli_closed(&f, slow, WAIT_MS));
	assert_true(mono_ms() - t0 >= 900);
	assert_int_equal(f.ngot, 1);
	close(slow);
	close(fast);
	httpd_close(f.h);
}

/* A client that trickles its body a byte at a time never goes idle, but
 * it cannot keep its connection past request_timeout_s. */
static void test_trickle_request_timeout(void **state)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .timeout_s = 10,
				.request_timeout_s = 1 };
	struct fx f;
	int64_t t0;
	int fd, closed = 0;
	char buf[256];

	(void)state;
	fx_open(&f, &o);
	t0 = mono_ms();
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /api/v1/alerts HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 100\r\n\r\n{");
	while (!closed && mono_ms() - t0 < 5000) {
		int64_t next = mono_ms() + 150; /* a byte every 150 ms */
		ssize_t n;

		while (mono_ms() < next)
			turn(&f, fd, 50);
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			closed = 1;
		else if (send(fd, " ", 1, MSG_NOSIGNAL) != 1)
			closed = 1;
	}
	assert_true(closed);
	assert_true(mono_ms() - t0 >= 900);
	assert_true(mono_ms() - t0 < 4000); /* well before timeout_s */
	assert_int_equal(f.ngot, 0);
	close(fd);
	httpd_close(f.h);
}

/* httpd_close answers what is parked with 503. */
static void test_close_answers_parked(void **state)
{
	struct fx f;
	struct resp r;
	int fd, fds0 = count_fds();

	(void)state;
	fx_open_default(&f);
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /a HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 2\r\n\r\n{}");
	assert_int_equal(cli_response(&f, fd, &r, 300), 0);
	assert_int_equal(f.ngot, 1);
	httpd_close(f.h);
	f.h = NULL;
	{
		char buf[1024];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		assert_true(n > 0);
		buf[n] = '\0';
		assert_true(strncmp(buf, "HTTP/1.1 503", 12) == 0);
		assert_has(buf, "shutting down");
	}
	close(fd);
	assert_int_equal(count_fds(), fds0); /* nothing left open */
}

/* A client that leaves while its request is parked costs nothing: the
 * answer goes nowhere, the request is freed (ASan checks). */
static void test_client_gone_while_parked(void **state)
{
	struct fx f;
	struct resp r;
	struct httpd_stats st;
	int fd;

	(void)state;
	fx_open_default(&f);
	fd = cli_connect(&f);
	cli_sends(&f, fd, "POST /a HTTP/1.1\r\nHost: t\r\n"
		  "Content-Length: 2\r\n\r\n{}");
	assert_int_equal(cli_response(&f, fd, &r, 300), 0);
	close(fd);
	httpd_respond(f.got[0].req, 200, NULL, "{\"ok\":true}");
	for (int i = 0; i < 50; i++) {
		turn(&f, -1, 20);
		httpd_get_stats(f.h, &st);
		if (st.conns == 0)
			break;
	}
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.parked, 0);
	httpd_close(f.h);
}

static void expect_open_error(const char *listen, const char *token,
			      const char *want)
{
	struct httpd_opts o = { .listen = listen, .token = token };
	struct httpd *h = (struct httpd *)&o;
	char err[256] = "";

	assert_int_equal(httpd_open(&h, &o, on_request, NULL, err,
				    sizeof(err)), -1);
	assert_null(h);
	if (strstr(err, want) == NULL)
		fail_msg("%s: \"%s\" not in \"%s\"", listen, want, err);
	assert_null(strstr(err, TOKEN));
}

static void test_open_refusals(void **state)
{
	(void)state;
	expect_open_error("0.0.0.0:9180", NULL, "http.listen: 0.0.0.0:9180 is "
			  "not a loopback address; set http.token_file");
	expect_open_error("192.0.2.1:80", "", "is not a loopback address");
	expect_open_error("[::]:80", NULL, "is not a loopback address");
	expect_open_error("127.0.0.1", NULL, "no port");
	expect_open_error("127.0.0.1:", NULL, "bad port");
	expect_open_error("127.0.0.1:65536", NULL, "bad port");
	expect_open_error("127.0.0.1:8o", NULL, "bad port");
	expect_open_error("127.0.0.1:-1", NULL, "bad port");
	expect_open_error("example.com:80", TOKEN, "unknown host");
	expect_open_error("127.1:80", NULL, "unknown host");
	expect_open_error(":80", NULL, "no host");
	expect_open_error("::1:80", NULL, "in brackets");
	expect_open_error("[::1:80", NULL, "expected [IPv6]:port");
	expect_open_error("[nope]:80", NULL, "not an IPv6 address");
	expect_open_error("", NULL, "empty address");
}

static void test_open_bind_error(void **state)
{
	struct fx f;
	char listen[64], err[256];
	struct httpd_opts o = { .listen = listen };
	struct httpd *h2;

	(void)state;
	fx_open_default(&f);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", httpd_port(f.h));
	int fds0;

	fds0 = count_fds();
	assert_int_equal(httpd_open(&h2, &o, on_request, NULL, err,
				    sizeof(err)), -1);
	assert_has(err, "Address already in use");
	assert_int_equal(count_fds(), fds0);
	httpd_close(f.h);
}

static void test_addr_parse(void **state)
{
	struct httpaddr a;
	char err[256];

	(void)state;
	assert_int_equal(httpaddr_parse("127.0.0.1:9180", &a, err,
					sizeof(err)), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 9180);
	assert_true(a.loopback);
	assert_int_equal(httpaddr_parse("127.8.9.10:0", &a, err,
					sizeof(err)), 0);
	assert_true(a.loopback);
	assert_int_equal(httpaddr_parse("LocalHost:1", &a, err,
					sizeof(err)), 0);
	assert_true(a.loopback);
	assert_int_equal(httpaddr_parse("10.1.2.3:443", &a, err,
					sizeof(err)), 0);
	assert_false(a.loopback);
	assert_int_equal(httpaddr_parse("[::1]:65535", &a, err,
					sizeof(err)), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.port, 65535);
	assert_true(a.loopback);
	assert_int_equal(httpaddr_parse("[::ffff:127.0.0.1]:1", &a, err,
					sizeof(err)), 0);
	assert_true(a.loopback);
	assert_int_equal(httpaddr_parse("[2001:db8::1]:1", &a, err,
					sizeof(err)), 0);
	assert_false(a.loopback);
	assert_int_equal(httpaddr_parse("[fe80::1%eth0]:1", &a, err,
					sizeof(err)), -1);
	/* Control characters are not quoted back as they are. */
	assert_int_equal(httpaddr_parse("a\nb:1", &a, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
}

/* IPv6 loopback works where the machine has it. */
static void test_ipv6_loopback(void **state)
{
	struct httpd_opts o = { .listen = "[::1]:0" };
	struct httpd *h;
	char err[256];

	(void)state;
	if (httpd_open(&h, &o, on_request, NULL, err, sizeof(err)) != 0) {
		/* No IPv6 here: the reason must say so, nothing else. */
		assert_has(err, "http.listen: [::1]:0: ");
		skip();
	}
	assert_true(httpd_port(h) > 0);
	httpd_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_answered_later),
		cmocka_unit_test(test_get_answered_at_once),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_too_large_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_methods_and_length),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_slow_client_timeout),
		cmocka_unit_test(test_trickle_request_timeout),
		cmocka_unit_test(test_close_answers_parked),
		cmocka_unit_test(test_client_gone_while_parked),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_open_bind_error),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_ipv6_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
