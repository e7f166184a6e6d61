/*
 * fixture.h - what unit tests share instead of copying: alerts built in
 * memory (freed with the real alert_free, so the test includes
 * alerts/alert.c) and temporary directories removed with everything in
 * them. Include it after cmocka.h and after the .c files under test.
 */
#ifndef OPSBOT_FIXTURE_H
#define OPSBOT_FIXTURE_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alert.h"

/* strdup that fails the test on OOM; NULL stays NULL. */
static inline char *fx_strdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	assert_true(s == NULL || d != NULL);
	return d;
}

/* A firing alert as the parser would leave it: the given fields copied,
 * no peer (uid/pid -1), everything else zero. Free with alert_free. */
static inline void fx_alert(struct alert *a, enum severity sev,
			    const char *source, const char *title,
			    const char *text, int64_t received_at)
{
	memset(a, 0, sizeof(*a));
	a->received_at = received_at;
	a->severity = sev;
	a->status = ALERT_FIRING;
	a->source = fx_strdup(source);
	a->title = fx_strdup(title);
	a->text = fx_strdup(text);
	a->peer_uid = -1;
	a->peer_pid = -1;
}

/* Makes /tmp/opsbot-<name>-XXXXXX in dir (size >= 64). 0 or -1. */
static inline int fx_tmpdir(char *dir, size_t size, const char *name)
{
	int n = snprintf(dir, size, "/tmp/opsbot-%s-XXXXXX", name);

	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static inline int fx_rm_one(const char *path, const struct stat *sb,
			    int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything in it (depth first, never following
 * symlinks). 0 or -1. */
static inline int fx_rmtree(const char *dir)
{
	return nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
