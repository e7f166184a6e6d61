/*
 * url.c - URL validation on libcurl's URL API (see url.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "bot/url.h"

static int url_fail(int rc, char *err, size_t errlen, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", why);
	return rc;
}

/* Maps a refusal by curl_url_set to our problems. */
static int url_curl_fail(CURLUcode uc, char *err, size_t errlen)
{
	char why[128];

	switch (uc) {
	case CURLUE_OUT_OF_MEMORY:
		return url_fail(URL_NOMEM, err, errlen, "out of memory");
	case CURLUE_NO_HOST:
		return url_fail(URL_NO_HOST, err, errlen, "missing host");
	case CURLUE_BAD_SCHEME:
	case CURLUE_UNSUPPORTED_SCHEME:
	case CURLUE_BAD_SLASHES:
		return url_fail(URL_BAD_SCHEME, err, errlen,
				"must start with http:// or https://");
	default:
		snprintf(why, sizeof(why), "not a valid URL (%s)",
			 curl_url_strerror(uc));
		return url_fail(URL_MALFORMED, err, errlen, why);
	}
}

/* After curl accepted h: the scheme must be http(s), written in full with
 * "://" and a host right after it. curl itself forgives "http:/x" and
 * "https:///x"; a chat client given the same string would not. */
static int url_check_parts(CURLU *h, const char *s, char *err, size_t errlen)
{
	char *scheme = NULL, *host = NULL;
	size_t n;
	int rc = URL_OK;

	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 &&
	     strcasecmp(scheme, "https") != 0)) {
		rc = url_fail(URL_BAD_SCHEME, err, errlen,
			      "must start with http:// or https://");
		goto out;
	}
	n = strlen(scheme);
	if (strncmp(s + n, "://", 3) != 0 || s[n + 3] == '/' ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0')
		rc = url_fail(URL_NO_HOST, err, errlen, "missing host");
out:
	curl_free(scheme);
	curl_free(host);
	return rc;
}

int url_check(const char *s, char *err, size_t errlen)
{
	CURLU *h;
	CURLUcode uc;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7F)
			return url_fail(URL_BAD_CHAR, err, errlen,
					"contains a space or control "
					"character");
	if ((h = curl_url()) == NULL)
		return url_fail(URL_NOMEM, err, errlen, "out of memory");
	/* Any scheme parses, so that ours can name the problem. */
	uc = curl_url_set(h, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
	rc = uc != CURLUE_OK ? url_curl_fail(uc, err, errlen) :
	    url_check_parts(h, s, err, errlen);
	curl_url_cleanup(h);
	return rc;
}
