/*
 * httpaddr.h - parses the HTTP listener's "host:port" (http.listen) into a
 * socket address and says whether it is a loopback address.
 *
 * Kept apart from httpd.c so that the configuration check (and its fuzz
 * target) can use it without libmicrohttpd. Never resolves names: the only
 * name accepted is "localhost" (127.0.0.1), so parsing never blocks.
 */
#ifndef OPSBOT_HTTPADDR_H
#define OPSBOT_HTTPADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct httpaddr {
	struct sockaddr_storage sa; /* AF_INET or AF_INET6, port set */
	socklen_t salen;
	int family;                 /* AF_INET or AF_INET6 */
	int port;                   /* 0..65535; 0 = the kernel picks one */
	int loopback;               /* 127.0.0.0/8, ::1 or ::ffff:127.x */
};

/* Parses "A.B.C.D:PORT", "[IPv6]:PORT" or "localhost:PORT" (strictly: no
 * names, no zone ids, decimal port 0..65535). Returns 0, or -1 with the
 * reason in err (which quotes s, cut and made printable). */
int httpaddr_parse(const char *s, struct httpaddr *out, char *err,
		   size_t errlen);

#endif
