/*
 * test_loop.c - unit tests for bot/loop.c, the loop around registered
 * sources: one turn runs every source's handle in registration order,
 * then the commit function, then every committed(ok) with its result;
 * the wait's timeout comes from the earliest next(); each source gets
 * its own slice of pollfds with what was ready; `work` sources are
 * skipped once the loop stops.
 *
 * curl_multi_poll is replaced by a fake that records what it was asked
 * (descriptors, timeout) and marks chosen descriptors ready; it never
 * sleeps. Deadlines are set from the loop's own clock (loop_clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

static CURLMcode fake_multi_poll(CURLM *multi, struct curl_waitfd fds[],
				 unsigned int nfds, int timeout_ms, int *ret);
#define curl_multi_poll fake_multi_poll
#include "bot/util.c"
#include "bot/loop.c"
#undef curl_multi_poll

/* --- the fake wait --- */

static struct {
	int waits;
	int timeout;
	unsigned nfds;
	struct curl_waitfd fds[16];
	int ready_fd;   /* gets revents CURL_WAIT_POLLIN; -1 none */
	char log[512];  /* what ran, in order */
	int commit_rc;
	int commits;
} rec;

static CURLMcode fake_multi_poll(CURLM *multi, struct curl_waitfd fds[],
				 unsigned int nfds, int timeout_ms, int *ret)
{
	rec.waits++;
	rec.timeout = timeout_ms;
	rec.nfds = nfds;
	assert_true(nfds <= 16);
	for (unsigned i = 0; i < nfds; i++) {
		if (fds[i].fd == rec.ready_fd)
			fds[i].revents = CURL_WAIT_POLLIN;
		rec.fds[i] = fds[i];
	}
	*ret = rec.ready_fd >= 0;
	return CURLM_OK;
}

static void log_step(const char *s)
{
	size_t n = strlen(rec.log);

	snprintf(rec.log + n, sizeof(rec.log) - n, "%s%s", n ? " " : "", s);
}

/* --- test sources --- */

struct src {
	const char *name;
	struct loop *loop;
	int64_t in_ms;        /* next(): loop's now + in_ms; <0: INT64_MAX */
	int fds[4];
	size_t nfds;
	short revents[4];     /* what handle saw */
	size_t seen;          /* how many pollfds handle got */
	int handled, polled, nexted;
	int committed;        /* last ok, -1 never */
};

static size_t src_pollfds(void *arg, struct pollfd *fds, size_t max)
{
	struct src *s = arg;

	s->polled++;
	assert_true(s->nfds <= max);
	for (size_t i = 0; i < s->nfds; i++) {
		fds[i].fd = s->fds[i];
		fds[i].events = POLLIN;
		fds[i].revents = 0;
	}
	return s->nfds;
}

static void src_handle(void *arg, const struct pollfd *fds, size_t n)
{
	struct src *s = arg;

	s->handled++;
	s->seen = n;
	for (size_t i = 0; i < n && i < 4; i++) {
		assert_int_equal(fds[i].fd, s->fds[i]);
		s->revents[i] = fds[i].revents;
	}
	log_step(s->name);
}

static int64_t src_next(void *arg)
{
	struct src *s = arg;

	s->nexted++;
	if (s->in_ms < 0)
		return INT64_MAX;
	return loop_clock(s->loop)->now + s->in_ms;
}

static void src_committed(void *arg, int ok)
{
	struct src *s = arg;
	char line[32];

	s->committed = ok;
	snprintf(line, sizeof(line), "%s:%d", s->name, ok);
	log_step(line);
}

static int commit_fn(void *arg)
{
	rec.commits++;
	log_step("commit");
	return rec.commit_rc;
}

static struct loop *new_loop(void)
{
	struct loop *l;

	memset(&rec, 0, sizeof(rec));
	rec.ready_fd = -1;
	/* the multi handle is only handed to the (fake) wait */
	l = loop_new((void *)&rec, commit_fn, NULL);
	assert_non_null(l);
	return l;
}

static void add(struct loop *l, struct src *s, const char *name, int work)
{
	struct loop_source ls = {
		.name = name, .arg = s, .maxfds = 4, .pollfds = src_pollfds,
		.handle = src_handle, .next = src_next,
		.committed = src_committed, .work = work,
	};

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->loop = l;
	s->in_ms = -1;
	s->committed = -1;
	assert_int_equal(loop_add(l, &ls), 0);
}

/* --- tests --- */

static void test_order_and_commit(void **state)
{
	struct loop *l = new_loop();
	struct src a, b, c;

	add(l, &a, "a", 0);
	add(l, &b, "b", 1);
	add(l, &c, "c", 0);
	loop_turn(l);
	assert_string_equal(rec.log, "a b c commit a:1 b:1 c:1");
	assert_int_equal(rec.waits, 1);
	assert_int_equal(rec.commits, 1);

	/* a commit that kept nothing: every source hears ok = 0 */
	rec.log[0] = '\0';
	rec.commit_rc = -1;
	loop_turn(l);
	assert_string_equal(rec.log, "a b c commit a:0 b:0 c:0");
	assert_int_equal(b.committed, 0);
	loop_free(l);
}

static void test_timeout_from_earliest_next(void **state)
{
	struct loop *l = new_loop();
	struct src a, b, c;

	add(l, &a, "a", 0);
	add(l, &b, "b", 0);
	add(l, &c, "c", 0);
	a.in_ms = 500;
	b.in_ms = 200;
	loop_turn(l);
	assert_int_equal(rec.timeout, 200);
	assert_true(a.nexted == 1 && b.nexted == 1 && c.nexted == 1);

	/* work due now (or overdue): no wait at all */
	c.in_ms = 0;
	loop_turn(l);
	assert_int_equal(rec.timeout, 0);

	/* nothing due: a capped nap, so a stepped clock is noticed */
	a.in_ms = b.in_ms = c.in_ms = -1;
	loop_turn(l);
	assert_int_equal(rec.timeout, LOOP_MAX_NAP_MS);
	a.in_ms = 10 * LOOP_MAX_NAP_MS;
	loop_turn(l);
	assert_int_equal(rec.timeout, LOOP_MAX_NAP_MS);
	loop_free(l);
}

/* Each source gives its descriptors and sees its own slice, with what
 * the wait found ready. */
static void test_pollfd_slices(void **state)
{
	struct loop *l = new_loop();
	struct src a, none, b;

	add(l, &a, "a", 0);
	add(l, &none, "none", 0);
	add(l, &b, "b", 0);
	a.fds[0] = 7;
	a.nfds = 1;
	b.fds[0] = 8;
	b.fds[1] = 9;
	b.nfds = 2;
	rec.ready_fd = 9;
	loop_turn(l);
	assert_int_equal(rec.nfds, 3);
	assert_int_equal(rec.fds[0].fd, 7);
	assert_int_equal(rec.fds[1].fd, 8);
	assert_int_equal(rec.fds[2].fd, 9);
	assert_int_equal(rec.fds[0].events, CURL_WAIT_POLLIN);
	assert_int_equal(a.seen, 1);
	assert_int_equal(a.revents[0], 0);
	assert_int_equal(none.seen, 0);
	assert_int_equal(none.handled, 1); /* runs every turn */
	assert_int_equal(b.seen, 2);
	assert_int_equal(b.revents[0], 0);
	assert_int_equal(b.revents[1], POLLIN);
	loop_free(l);
}

/* Stopping: `work` sources are not asked for descriptors, deadlines or
 * work any more; the others (signals, transfers) still run, and every
 * source still hears how the commit went. */
static void test_stop_skips_work(void **state)
{
	struct loop *l = new_loop();
	struct src sig, work;

	add(l, &sig, "sig", 0);
	add(l, &work, "work", 1);
	work.fds[0] = 5;
	work.nfds = 1;
	work.in_ms = 0;
	sig.in_ms = 300;
	assert_false(loop_stopping(l));
	loop_stop(l);
	assert_true(loop_stopping(l));
	loop_turn(l);
	assert_int_equal(work.handled, 0);
	assert_int_equal(work.polled, 0);
	assert_int_equal(work.nexted, 0);
	assert_int_equal(rec.nfds, 0);
	assert_int_equal(rec.timeout, 300); /* work's "now" did not count */
	assert_int_equal(sig.handled, 1);
	assert_string_equal(rec.log, "sig commit sig:1 work:1");
	loop_free(l);
}

static void test_table_bounded(void **state)
{
	struct loop *l = new_loop();
	struct loop_source ls = { .name = "x" };
	int added = 0;

	while (loop_add(l, &ls) == 0 && added < 1000)
		added++;
	assert_int_equal(added, LOOP_MAX_SOURCES);
	loop_free(l);
}

/* The clock is read once before the wait and once after it. */
static void test_clock(void **state)
{
	struct loop *l = new_loop();
	struct src a;
	struct clock before;

	add(l, &a, "a", 0);
	before = *loop_clock(l);
	loop_turn(l);
	assert_true(loop_clock(l)->now >= before.now);
	assert_true(loop_clock(l)->wall >= before.wall);
	assert_true(loop_clock(l)->wall > 1600000000000LL);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_commit),
		cmocka_unit_test(test_timeout_from_earliest_next),
		cmocka_unit_test(test_pollfd_slices),
		cmocka_unit_test(test_stop_skips_work),
		cmocka_unit_test(test_table_bounded),
		cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
