/*
 * loop.c - the event loop around registered sources. See loop.h.
 */
#include "bot/loop.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define LOOP_MAX_SOURCES 16
/* curl also wakes us for its own timers; cap the nap anyway so a stepped
 * wall clock is noticed. */
#define LOOP_MAX_NAP_MS 60000

struct loop {
	CURLM *multi;
	loop_commit_fn commit;
	void *commit_arg;
	struct clock clock;
	struct loop_source src[LOOP_MAX_SOURCES];
	size_t first[LOOP_MAX_SOURCES]; /* each source's slice of pfds */
	size_t count[LOOP_MAX_SOURCES];
	size_t nsrc;
	struct pollfd *pfds;
	struct curl_waitfd *wfds;
	size_t maxfds;
	int stopping;
};

struct loop *loop_new(void *multi, loop_commit_fn commit, void *arg)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->multi = multi;
	l->commit = commit;
	l->commit_arg = arg;
	clock_read(&l->clock);
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->pfds);
	free(l->wfds);
	free(l);
}

int loop_add(struct loop *l, const struct loop_source *s)
{
	size_t max = l->maxfds + s->maxfds;
	struct pollfd *p;
	struct curl_waitfd *w;

	if (l->nsrc == LOOP_MAX_SOURCES)
		return -1;
	if (s->maxfds > 0) {
		p = realloc(l->pfds, max * sizeof(*p));
		if (p == NULL)
			return -1;
		l->pfds = p;
		w = realloc(l->wfds, max * sizeof(*w));
		if (w == NULL)
			return -1;
		l->wfds = w;
		l->maxfds = max;
	}
	l->src[l->nsrc++] = *s;
	return 0;
}

const struct clock *loop_clock(const struct loop *l)
{
	return &l->clock;
}

void loop_stop(struct loop *l)
{
	l->stopping = 1;
}

int loop_stopping(const struct loop *l)
{
	return l->stopping;
}

static int skipped(const struct loop *l, const struct loop_source *s)
{
	return l->stopping && s->work;
}

/* Every source's descriptors, one slice each, and the earliest deadline
 * as a poll timeout in ms. */
static int loop_collect(struct loop *l, size_t *nfds)
{
	int64_t t = INT64_MAX;
	size_t n = 0;

	for (size_t i = 0; i < l->nsrc; i++) {
		struct loop_source *s = &l->src[i];

		l->first[i] = n;
		l->count[i] = 0;
		if (skipped(l, s))
			continue;
		if (s->pollfds)
			l->count[i] = s->pollfds(s->arg, l->pfds + n, s->maxfds);
		n += l->count[i];
		if (s->next) {
			int64_t w = s->next(s->arg);

			t = w < t ? w : t;
		}
	}
	*nfds = n;
	if (t <= l->clock.now)
		return 0;
	return (int)(t - l->clock.now < LOOP_MAX_NAP_MS ? t - l->clock.now :
		     LOOP_MAX_NAP_MS);
}

static short to_curl(short ev)
{
	return (short)((ev & POLLIN ? CURL_WAIT_POLLIN : 0) |
		       (ev & POLLOUT ? CURL_WAIT_POLLOUT : 0));
}

static short from_curl(short ev)
{
	return (short)((ev & CURL_WAIT_POLLIN ? POLLIN : 0) |
		       (ev & CURL_WAIT_POLLOUT ? POLLOUT : 0) |
		       (ev & CURL_WAIT_POLLPRI ? POLLPRI : 0));
}

static void loop_wait(struct loop *l, size_t n, int timeout)
{
	int numfds;

	for (size_t i = 0; i < n; i++) {
		l->wfds[i].fd = l->pfds[i].fd;
		l->wfds[i].events = to_curl(l->pfds[i].events);
		l->wfds[i].revents = 0;
	}
	curl_multi_poll(l->multi, l->wfds, (unsigned)n, timeout, &numfds);
	for (size_t i = 0; i < n; i++)
		l->pfds[i].revents = from_curl(l->wfds[i].revents);
}

void loop_turn(struct loop *l)
{
	size_t n;
	int timeout, ok;

	clock_read(&l->clock);
	timeout = loop_collect(l, &n);
	loop_wait(l, n, timeout);
	clock_read(&l->clock);
	for (size_t i = 0; i < l->nsrc; i++)
		if (!skipped(l, &l->src[i]) && l->src[i].handle)
			l->src[i].handle(l->src[i].arg, l->pfds + l->first[i],
					 l->count[i]);
	ok = l->commit(l->commit_arg) == 0;
	for (size_t i = 0; i < l->nsrc; i++)
		if (l->src[i].committed)
			l->src[i].committed(l->src[i].arg, ok);
}
