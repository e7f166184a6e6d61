/*
 * proxy.h - telegram.proxy: applying it to a libcurl handle, and showing
 * it without its credentials (/status, opsbot status, the log).
 *
 * Leaf module: nothing logs. The URL is validated by config.c.
 */
#ifndef OPSBOT_PROXY_H
#define OPSBOT_PROXY_H

#include <stddef.h>

/* Sets CURLOPT_PROXY and CURLOPT_NOPROXY on easy (a CURL *) when proxy
 * is set (non-NULL, non-empty): the setting then wins over libcurl's
 * environment (http_proxy, https_proxy, all_proxy and no_proxy are
 * ignored; no_proxy here, possibly "", is the only exception list).
 * With no proxy set nothing is touched, so libcurl's environment applies
 * as before. 0, or -1 if libcurl refused an option. */
int proxy_apply(void *easy, const char *proxy, const char *no_proxy);

/* Writes url without user name and password ("socks5h://host:1080") to
 * out: "" for an empty url, "(invalid proxy URL)" if it cannot be
 * parsed. Returns out. Never copies a credential. */
char *proxy_display(const char *url, char *out, size_t len);

#endif
