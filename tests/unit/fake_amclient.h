/*
 * fake_amclient.h - a stand-in for bot/amclient.c in unit tests of the
 * commands that run without an Alertmanager (cmd_deps.am NULL: every mute
 * is local). Include it after commands/cmd_silence.c; a call is a test
 * failure (test_silence.c tests the silences with the real client).
 */
#ifndef OPSBOT_FAKE_AMCLIENT_H
#define OPSBOT_FAKE_AMCLIENT_H

#include "bot/amclient.h"

int am_request(struct amclient *am, const char *method, const char *path,
	       const char *body, const void *ctx, size_t ctxlen,
	       am_done_fn fn, char *err, size_t errlen)
{
	fail_msg("am_request without an Alertmanager");
	return -1;
}

void am_time(char *dst, size_t size, int64_t wall_ms)
{
	fail_msg("am_time without an Alertmanager");
}

int64_t am_time_parse(const char *s)
{
	fail_msg("am_time_parse without an Alertmanager");
	return -1;
}

#endif
