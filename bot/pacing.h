/*
 * pacing.h - when the next request may go: Telegram's flood limits
 * enforced before sending (ratelimit), exponential backoff with full
 * jitter (backoff), and a circuit breaker on the Bot API (breaker).
 *
 * Pure scheduling: every function takes the monotonic `now` (ms) from the
 * caller and randomness from a caller-owned struct rng, so tests drive
 * them with an injected clock and seed.
 */
#ifndef OPSBOT_PACING_H
#define OPSBOT_PACING_H

#include <stdint.h>

/* --- randomness --- */

struct rng {
	uint64_t s; /* xorshift64* state; never 0 */
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); 0 when n <= 0. */
int64_t rng_below(struct rng *r, int64_t n);

/* --- rate limiter --- */

/* A lane says who asks: alert sends leave headroom in every window so
 * that replies to operators never wait behind a backlog. */
enum lane { LANE_ALERT = 0, LANE_REPLY = 1 };

struct ratelimit_opts {
	double global_per_second; /* all chats together, e.g. 30 */
	double chat_per_second;   /* one chat, e.g. 1 */
	int group_per_minute;     /* one group/supergroup (chat id < 0), 20 */
	int64_t margin_ms;        /* added to every window for clock skew and
				     network jitter, e.g. 100 */
	int reply_reserve;        /* group and global slots kept for replies */
	int max_chats;            /* chat entries kept (LRU beyond), e.g. 4096 */
};

struct ratelimit;

/* NULL on allocation failure or invalid options (rates outside
 * [0.001, 1000], group_per_minute outside [1, 1000], margin_ms outside
 * [0, 60000], reply_reserve < 0, max_chats outside [1, 2^20]). Caller
 * frees with ratelimit_free. */
struct ratelimit *ratelimit_new(const struct ratelimit_opts *o);
void ratelimit_free(struct ratelimit *rl);

/* Earliest time (>= now) at which a message into chat may be sent on this
 * lane: the latest of the per-chat, per-group and global windows and any
 * block set by ratelimit_block. LANE_REPLY may use the reserved slots and
 * one burst slot in the chat window. */
int64_t ratelimit_when(struct ratelimit *rl, int64_t chat, enum lane lane,
		       int64_t now);
/* When the last of n alert-lane messages into chat could leave if each
 * went as soon as the limits allow from now on (and nothing else were
 * sent meanwhile): how long the chat's budget needs to clear a backlog
 * of n. now when n <= 0; n is capped at 100000. Changes nothing, so a
 * caller may ask before deciding how to send. */
int64_t ratelimit_drain(struct ratelimit *rl, int64_t chat, int n,
			int64_t now);
/* Records a message into chat sent at now (counts in every window). */
void ratelimit_sent(struct ratelimit *rl, int64_t chat, int64_t now);
/* Takes back a send recorded at `sent` that never reached Telegram (no
 * HTTP answer at all): failed attempts during an outage must not use up
 * the chat's or group's allowance for when it is over. */
void ratelimit_unsent(struct ratelimit *rl, int64_t chat, int64_t sent);
/* Nothing goes to chat (or, with chat == 0, anywhere) before until.
 * A block only extends: an earlier until than the one in force is ignored. */
void ratelimit_block(struct ratelimit *rl, int64_t chat, int64_t until);
/* The later of chat's block and the global one; 0 if never blocked. */
int64_t ratelimit_blocked_until(struct ratelimit *rl, int64_t chat);
/* The chat's entry moves to the new id (group became supergroup). */
void ratelimit_migrate(struct ratelimit *rl, int64_t from, int64_t to);

/* --- backoff --- */

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)], attempt >= 0.
 * Never overflows for any attempt. */
int64_t backoff_delay(int attempt, int64_t base_ms, int64_t cap_ms,
		      struct rng *r);

/* --- circuit breaker --- */

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	int threshold;        /* consecutive failures that open it */
	int failures;         /* consecutive transient failures */
	int opens;            /* consecutive opens: drives the probe backoff */
	int probe_in_flight;
	int64_t base_ms, cap_ms;
	int64_t retry_at;     /* OPEN: when the next probe may go (mono) */
	int64_t down_since;   /* mono ms of the first failure of the outage */
};

void breaker_init(struct breaker *b, int threshold, int64_t base_ms,
		  int64_t cap_ms);
/* May a request go now? CLOSED: yes. OPEN: no until retry_at, then it
 * turns HALF_OPEN. HALF_OPEN: yes for exactly one probe at a time
 * (returning 1 marks the probe in flight). */
int breaker_allow(struct breaker *b, int64_t now);
/* A transient failure (timeout, reset, 5xx, non-JSON). Returns 1 if this
 * call opened the breaker. */
int breaker_failure(struct breaker *b, int64_t now, struct rng *r);
/* A success (any answer from Telegram that is not transient). Returns 1
 * if this closed an open/half-open breaker: the outage is over. */
int breaker_success(struct breaker *b, int64_t now);
/* An in-flight probe ended without an answer either way (cancelled). */
void breaker_release(struct breaker *b);
/* /retry_now: an open breaker may probe at once. */
void breaker_probe_now(struct breaker *b, int64_t now);
/* When breaker_allow may next say yes (now if it would now; INT64_MAX
 * while a probe is in flight: only its end can free the breaker). */
int64_t breaker_next(const struct breaker *b, int64_t now);
const char *breaker_state_name(enum breaker_state s);

#endif
