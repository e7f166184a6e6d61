/*
 * url.h - the one URL check: alert links, the Bot API base URL and the
 * formatter's "may this become a link" all use it, so a URL the parser
 * accepts is one the formatter links and one curl can fetch.
 */
#ifndef OPSBOT_URL_H
#define OPSBOT_URL_H

#include <stddef.h>

/* What is wrong with a URL (url_check's return values). */
enum url_problem {
	URL_OK = 0,
	URL_BAD_CHAR = -1,   /* a space or control character (C0, DEL) */
	URL_BAD_SCHEME = -2, /* not "http://" or "https://" (any case) */
	URL_NO_HOST = -3,    /* nothing between "://" and the path */
	URL_MALFORMED = -4,  /* libcurl refuses it (port, host syntax...) */
	URL_NOMEM = -5,
};

/* Checks s: an absolute http or https URL, written out in full
 * ("scheme://host..."), with a host, parsed by libcurl's URL API
 * (curl_url_set), without spaces or control characters. Returns URL_OK or
 * one of the problems above with a short reason in err (which never quotes
 * s: a URL may carry a token); err may be NULL. Allocates only
 * transiently, never logs. */
int url_check(const char *s, char *err, size_t errlen);

#endif
