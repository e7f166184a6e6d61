/*
 * daemon.h - the daemon: builds every module from the configuration,
 * registers the loop's sources, and runs the loop until a stop signal.
 * Its context is private to daemon.c; modules get the few collaborators
 * they need (their *_deps structs), never the daemon.
 */
#ifndef OPSBOT_DAEMON_H
#define OPSBOT_DAEMON_H

struct config;
struct daemon;

/* Opens store, socket and transport from cfg (copied). NULL on failure
 * (logged). */
struct daemon *daemon_new(const struct config *cfg);
/* Runs the loop until a stop signal; returns the exit status. */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

#endif
