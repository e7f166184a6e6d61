/*
 * test_api.c - unit tests for bot/api.c, the Bot API's state as one
 * policy: the circuit breaker fed by sends, the half-open probe, the 401
 * pause of sends and polls with its retry timer, /retry_now, and the cap
 * on a 429's retry_after. The clock is injected (struct clock set by
 * hand); answers are tg_reply values built here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bot/rng.c"
#include "bot/backoff.c"
#include "bot/breaker.c"
#include "bot/api.c"

#define THRESHOLD 3
#define BASE_MS 1000
#define CAP_MS 60000
#define AFTER_CAP 3600
#define AUTH_MS 300000
#define MONO0 5000000

struct fx {
	struct clock clk;
	struct rng rng;
	struct api *api;
};

static int setup(void **state)
{
	static struct fx f;
	struct api_opts o = {
		.breaker_threshold = THRESHOLD, .retry_base_ms = BASE_MS,
		.retry_cap_ms = CAP_MS, .retry_after_cap = AFTER_CAP,
		.auth_retry_ms = AUTH_MS,
	};

	memset(&f, 0, sizeof(f));
	f.clk.now = MONO0;
	f.clk.wall = 1700000000000LL;
	rng_seed(&f.rng, 7);
	f.api = api_new(&o, &f.clk, &f.rng);
	if (f.api == NULL)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	api_free(f->api);
	return 0;
}

static struct tg_reply reply(enum tg_outcome o, int retry_after)
{
	struct tg_reply r;

	memset(&r, 0, sizeof(r));
	r.outcome = o;
	r.http_status = o == TG_OK ? 200 : o == TG_TRANSIENT ? 502 :
			o == TG_UNAUTHORIZED ? 401 : o == TG_RATE_LIMITED ?
			429 : 400;
	r.retry_after = retry_after;
	return r;
}

/* One request of kind: gate open, begin, answer. */
static enum api_event request(struct fx *f, enum api_kind kind,
			      enum tg_outcome o)
{
	struct tg_reply r = reply(o, 0);

	assert_true(api_gate(f->api, kind) <= f->clk.now);
	api_begin(f->api, kind);
	return api_account(f->api, &r, kind);
}

/* Transient send failures until the breaker opens; returns when the
 * first one failed. */
static int64_t open_breaker(struct fx *f)
{
	int64_t first = f->clk.now;

	for (int i = 1; i < THRESHOLD; i++) {
		assert_int_equal(request(f, API_SEND, TG_TRANSIENT), API_NONE);
		assert_false(api_breaker_open(f->api));
		assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
		f->clk.now += 100;
	}
	assert_int_equal(request(f, API_SEND, TG_TRANSIENT), API_OPENED);
	assert_true(api_breaker_open(f->api));
	assert_string_equal(api_breaker_name(f->api), "open");
	return first;
}

static void test_breaker_opens_at_threshold(void **state)
{
	struct fx *f = *state;
	int64_t gate;

	open_breaker(f);
	gate = api_gate(f->api, API_SEND);
	assert_true(gate > f->clk.now);
	assert_int_equal(gate, f->api->breaker.retry_at);
	assert_true(gate <= f->clk.now + BASE_MS);
	/* polling is not held by the breaker */
	assert_int_equal(api_gate(f->api, API_POLL), f->clk.now);
}

static void test_poll_failures_never_open(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 5 * THRESHOLD; i++) {
		assert_int_equal(request(f, API_POLL, TG_TRANSIENT), API_NONE);
		f->clk.now += 100;
	}
	assert_false(api_breaker_open(f->api));
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
}

/* A 429 is an answer: Telegram is reachable, the failure streak ends. */
static void test_rate_limited_resets_streak(void **state)
{
	struct fx *f = *state;

	for (int i = 1; i < THRESHOLD; i++)
		request(f, API_SEND, TG_TRANSIENT);
	assert_int_equal(request(f, API_SEND, TG_RATE_LIMITED), API_NONE);
	assert_int_equal(request(f, API_SEND, TG_TRANSIENT), API_NONE);
	assert_false(api_breaker_open(f->api));
}

static void test_half_open_single_probe(void **state)
{
	struct fx *f = *state;
	int64_t first = open_breaker(f), gate, gate2;
	struct tg_reply r;

	gate = api_gate(f->api, API_SEND);
	f->clk.now = gate - 1;
	assert_true(api_gate(f->api, API_SEND) > f->clk.now);
	f->clk.now = gate;
	/* the probe takes the slot: nothing else until it answers */
	api_begin(f->api, API_SEND);
	assert_int_equal(f->api->breaker.state, BREAKER_HALF_OPEN);
	assert_int_equal(api_gate(f->api, API_SEND), INT64_MAX);
	f->clk.now += 60000;
	assert_int_equal(api_gate(f->api, API_SEND), INT64_MAX);

	/* the probe fails: open again (announced only once), later */
	r = reply(TG_TRANSIENT, 0);
	assert_int_equal(api_account(f->api, &r, API_SEND), API_NONE);
	assert_int_equal(f->api->breaker.state, BREAKER_OPEN);
	gate2 = api_gate(f->api, API_SEND);
	assert_true(gate2 > f->clk.now);
	assert_true(gate2 <= f->clk.now + 2 * BASE_MS);

	/* the next probe answers: the outage is over, since the first
	 * failure */
	f->clk.now = gate2;
	assert_int_equal(request(f, API_SEND, TG_OK), API_RECOVERED);
	assert_false(api_breaker_open(f->api));
	assert_int_equal(api_down_since(f->api), first);
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
}

static void test_unauthorized_pauses_its_kind(void **state)
{
	struct fx *f = *state;
	int64_t t401 = f->clk.now;
	struct tg_reply r = reply(TG_UNAUTHORIZED, 0);

	api_begin(f->api, API_SEND);
	assert_int_equal(api_account(f->api, &r, API_SEND), API_PAUSED);
	assert_true(api_paused(f->api));
	assert_true(api_kind_paused(f->api, API_SEND));
	assert_false(api_kind_paused(f->api, API_POLL));
	assert_int_equal(api_gate(f->api, API_SEND), t401 + AUTH_MS);
	/* polls find out for themselves */
	assert_int_equal(api_gate(f->api, API_POLL), t401);
	/* a 401 is an answer: the breaker neither counts nor opens */
	assert_int_equal(f->api->breaker.failures, 0);
	assert_false(api_breaker_open(f->api));

	/* a second 401 of the same kind is not a new event; the other
	 * kind's first one is */
	f->clk.now += 10;
	assert_int_equal(api_account(f->api, &r, API_SEND), API_NONE);
	assert_int_equal(api_account(f->api, &r, API_POLL), API_PAUSED);
	assert_int_equal(api_gate(f->api, API_POLL), f->clk.now + AUTH_MS);
}

/* Each kind finds out on its own timer; a poll that works lifts the
 * poll pause only (sends still probe for themselves). */
static void test_pause_retry_per_kind(void **state)
{
	struct fx *f = *state;
	struct tg_reply r = reply(TG_UNAUTHORIZED, 0);
	int64_t t401 = f->clk.now, again;

	api_begin(f->api, API_POLL);
	assert_int_equal(api_account(f->api, &r, API_POLL), API_PAUSED);
	f->clk.now = t401 + AUTH_MS - 1;
	assert_true(api_gate(f->api, API_POLL) > f->clk.now);
	/* sends are not held by the polls' 401 */
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
	api_begin(f->api, API_SEND);
	assert_int_equal(api_account(f->api, &r, API_SEND), API_PAUSED);

	/* retried at auth_retry_ms, one probe at a time */
	f->clk.now = t401 + AUTH_MS;
	assert_int_equal(api_gate(f->api, API_POLL), f->clk.now);
	api_begin(f->api, API_POLL);
	assert_int_equal(api_gate(f->api, API_POLL), INT64_MAX);
	/* refused again: another auth_retry_ms */
	assert_int_equal(api_account(f->api, &r, API_POLL), API_NONE);
	again = f->clk.now + AUTH_MS;
	assert_int_equal(api_gate(f->api, API_POLL), again);
	assert_int_equal(api_gate(f->api, API_SEND), t401 + 2 * AUTH_MS - 1);

	f->clk.now = again;
	assert_int_equal(request(f, API_POLL, TG_OK), API_RESUMED);
	assert_int_equal(api_gate(f->api, API_POLL), f->clk.now);
	assert_true(api_paused(f->api)); /* sends have not found out yet */
	/* their own retry time has come: a send probe may go */
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
	/* and works too */
	assert_int_equal(request(f, API_SEND, TG_OK), API_RESUMED);
	assert_false(api_paused(f->api));
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
}

static void test_retry_now(void **state)
{
	struct fx *f = *state;
	struct tg_reply r = reply(TG_UNAUTHORIZED, 0);

	/* an open breaker probes at once */
	open_breaker(f);
	assert_true(api_gate(f->api, API_SEND) > f->clk.now);
	api_retry_now(f->api);
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
	assert_int_equal(request(f, API_SEND, TG_OK), API_RECOVERED);

	/* a refused token is tried again now, by each kind */
	f->clk.now += 1000;
	api_begin(f->api, API_SEND);
	assert_int_equal(api_account(f->api, &r, API_SEND), API_PAUSED);
	api_begin(f->api, API_POLL);
	assert_int_equal(api_account(f->api, &r, API_POLL), API_PAUSED);
	f->clk.now += AUTH_MS;
	api_begin(f->api, API_POLL); /* a probe in flight stays alone */
	f->clk.now += 1000;
	api_retry_now(f->api);
	assert_int_equal(api_gate(f->api, API_SEND), f->clk.now);
	assert_int_equal(api_gate(f->api, API_POLL), INT64_MAX);
}

static void test_retry_after_capped(void **state)
{
	struct fx *f = *state;
	struct tg_reply r;
	int capped = -1;

	r = reply(TG_RATE_LIMITED, 7);
	assert_int_equal(api_retry_after_ms(f->api, &r, &capped), 7000);
	assert_int_equal(capped, 0);
	r = reply(TG_RATE_LIMITED, AFTER_CAP);
	assert_int_equal(api_retry_after_ms(f->api, &r, &capped),
			 AFTER_CAP * 1000LL);
	assert_int_equal(capped, 0);
	r = reply(TG_RATE_LIMITED, 99999);
	assert_int_equal(api_retry_after_ms(f->api, &r, &capped),
			 AFTER_CAP * 1000LL);
	assert_int_equal(capped, 1);
	/* no usable retry_after: wait a second rather than not at all */
	r = reply(TG_RATE_LIMITED, 0);
	assert_int_equal(api_retry_after_ms(f->api, &r, &capped), 1000);
	assert_int_equal(capped, 0);
}

/* A reload changes the threshold; the breaker keeps its state. */
static void test_configure(void **state)
{
	struct fx *f = *state;
	struct api_opts o = {
		.breaker_threshold = 1, .retry_base_ms = BASE_MS,
		.retry_cap_ms = CAP_MS, .retry_after_cap = 10,
		.auth_retry_ms = AUTH_MS,
	};
	struct tg_reply r = reply(TG_RATE_LIMITED, 60);
	int capped;

	api_configure(f->api, &o);
	assert_int_equal(request(f, API_SEND, TG_TRANSIENT), API_OPENED);
	assert_int_equal(api_retry_after_ms(f->api, &r, &capped), 10000);
	assert_int_equal(capped, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_breaker_opens_at_threshold,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_failures_never_open,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limited_resets_streak,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_open_single_probe,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized_pauses_its_kind,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_retry_per_kind,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_capped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_configure, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
