/*
 * httpaddr.h - parses the HTTP listener's "host:port" (http.listen) into a
 * socket address and says whether it is a loopback address.
 *
 * Kept apart from httpd.c so that the configuration check can use it
 * without libmicrohttpd, and header-only (static inline) so that every
 * test and fuzz target that includes bot/config.c gets it without another
 * #include. Never resolves names: the only name accepted is "localhost"
 * (127.0.0.1), so parsing never blocks.
 */
#ifndef OPSBOT_HTTPADDR_H
#define OPSBOT_HTTPADDR_H

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct httpaddr {
	struct sockaddr_storage sa; /* AF_INET or AF_INET6, port set */
	socklen_t salen;
	int family;                 /* AF_INET or AF_INET6 */
	int port;                   /* 0..65535; 0 = the kernel picks one */
	int loopback;               /* 127.0.0.0/8, ::1 or ::ffff:127.x */
};

/* Longest listen string accepted, and how much of one is quoted back. */
#define HTTPADDR_MAX 127
#define HTTPADDR_QUOTE 48

/* A user string made safe to quote: bounded, printable. */
static inline const char *httpaddr_quote(char *dst, size_t size,
					 const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = '\0';
	if (s[i] != '\0' && size > 4)
		memcpy(dst + size - 4, "...", 4);
	return dst;
}

/* Decimal port, 1 to 5 digits, 0..65535; -1 if not one. */
static inline int httpaddr_port(const char *p)
{
	long v = 0;
	size_t n = 0;

	for (; n < 6 && isdigit((unsigned char)p[n]); n++)
		v = v * 10 + (p[n] - '0');
	if (n == 0 || n > 5 || p[n] != '\0' || v > 65535)
		return -1;
	return (int)v;
}

static inline int httpaddr_is_loopback6(const struct in6_addr *a)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
						  0, 0xff, 0xff };

	if (IN6_IS_ADDR_LOOPBACK(a))
		return 1;
	return memcmp(a->s6_addr, mapped, sizeof(mapped)) == 0 &&
	       a->s6_addr[12] == 127;
}

/* Parses "A.B.C.D:PORT", "[IPv6]:PORT" or "localhost:PORT" (strictly: no
 * names, no zone ids, decimal port 0..65535). Returns 0, or -1 with the
 * reason in err (which quotes s, cut and made printable). */
static inline int httpaddr_parse(const char *s, struct httpaddr *out,
				  char *err, size_t errlen)
{
	char host[HTTPADDR_MAX + 1], q[HTTPADDR_QUOTE];
	const char *colon, *portstr;
	size_t hlen;
	int v6 = 0;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty address (expected host:port, "
			 "like 127.0.0.1:9180)");
		return -1;
	}
	httpaddr_quote(q, sizeof(q), s);
	if (strlen(s) > HTTPADDR_MAX) {
		snprintf(err, errlen, "\"%s\": too long", q);
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [IPv6]:port, "
				 "like [::1]:9180", q);
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		memcpy(host, s + 1, hlen);
		portstr = close + 2;
		v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "\"%s\": no port (expected "
				 "host:port, like 127.0.0.1:9180)", q);
			return -1;
		}
		hlen = (size_t)(colon - s);
		memcpy(host, s, hlen);
		portstr = colon + 1;
		if (memchr(host, ':', hlen) != NULL) {
			snprintf(err, errlen, "\"%s\": an IPv6 address goes "
				 "in brackets, like [::1]:9180", q);
			return -1;
		}
	}
	host[hlen] = '\0';
	if ((out->port = httpaddr_port(portstr)) < 0) {
		snprintf(err, errlen, "\"%s\": bad port (expected a number "
			 "from 0 to 65535)", q);
		return -1;
	}
	if (hlen == 0) {
		snprintf(err, errlen, "\"%s\": no host (expected an IPv4 "
			 "address, [IPv6] or localhost)", q);
		return -1;
	}
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			snprintf(err, errlen, "\"%s\": not an IPv6 address "
				 "in the brackets", q);
			return -1;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)out->port);
		out->family = AF_INET6;
		out->salen = sizeof(*a);
		out->loopback = httpaddr_is_loopback6(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;

		if (strcasecmp(host, "localhost") == 0)
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			snprintf(err, errlen, "\"%s\": unknown host (expected "
				 "an IPv4 address, [IPv6] or localhost; names "
				 "are not resolved)", q);
			return -1;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)out->port);
		out->family = AF_INET;
		out->salen = sizeof(*a);
		out->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

#endif
