/*
 * proxy.c - telegram.proxy for the Bot API transfers (see proxy.h).
 */
#include "bot/proxy.h"

#include <curl/curl.h>
#include <stdio.h>

#include "bot/util.h"

int proxy_apply(void *easy, const char *proxy, const char *no_proxy)
{
	CURL *e = easy;

	if (proxy == NULL || proxy[0] == '\0')
		return 0;
	if (curl_easy_setopt(e, CURLOPT_PROXY, proxy) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOPROXY,
			     no_proxy ? no_proxy : "") != CURLE_OK)
		return -1;
	return 0;
}

char *proxy_display(const char *url, char *out, size_t len)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *port = NULL;

	if (out == NULL || len == 0)
		return out;
	out[0] = '\0';
	if (url == NULL || url[0] == '\0')
		return out;
	u = curl_url();
	if (u != NULL &&
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		/* No port in the URL: CURLUE_NO_PORT, and none shown. */
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
			port = NULL;
		snprintf(out, len, "%s://%s%s%s", scheme, host,
			 port ? ":" : "", port ? port : "");
	} else {
		str_copy(out, "(invalid proxy URL)", len);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}
