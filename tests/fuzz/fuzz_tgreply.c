/*
 * fuzz_tgreply.c - libFuzzer target for the Bot API reply classifier
 * (bot/tgapi.c): tg_classify() on arbitrary bytes, as if they came back
 * from Telegram or from a proxy in front of it.
 *
 * Input layout: byte 0 picks the curl result (0 = transfer ok for most
 * values, else a CURLcode, with or without an error text), bytes 1-2 the
 * HTTP status (a table of the interesting ones, or a raw value), the rest
 * is the body (and, for a failed transfer with text, curl's error buffer).
 * Checked: a known outcome, retry_after >= 1 exactly when rate-limited,
 * a terminated, one-line, valid UTF-8 description with every token
 * redacted, a migrate id only for TG_MIGRATED.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/util.c"
#include "bot/utf8.c"
#include "bot/tgapi.c"
#include "tests/fuzz/fuzz.h"

static const long statuses[] = {
	200, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 0, 302, 413,
	420, 999
};

/* A character of a token's secret, as redact_token's contract defines it
 * (written out again so that the check does not use the code it checks). */
static int secret_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

/* No "bot<digits>:<3+ secret chars>" survives: redact_token's contract. */
static void check_redacted(const char *d)
{
	const char *p, *q;
	size_t n;

	for (p = d; (p = strstr(p, "bot")) != NULL; p++) {
		q = p + 3;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == p + 3 || *q != ':')
			continue;
		for (n = 0, q++; secret_char(*q); q++)
			n++;
		FUZZ_CHECK(n < 3, "token not redacted: %s", d);
	}
}

static void check_reply(const struct tg_reply *r, long status)
{
	size_t n = strnlen(r->description, sizeof(r->description)), i;

	FUZZ_CHECK((unsigned)r->outcome < TG_OUTCOME_COUNT, "outcome %d",
		   (int)r->outcome);
	FUZZ_CHECK(tg_outcome_name(r->outcome) != NULL, "unnamed outcome");
	FUZZ_CHECK(r->http_status == status, "http_status changed");
	if (r->outcome == TG_RATE_LIMITED)
		FUZZ_CHECK(r->retry_after >= 1, "retry_after %d",
			   r->retry_after);
	else
		FUZZ_CHECK(r->retry_after == 0, "retry_after %d for %s",
			   r->retry_after, tg_outcome_name(r->outcome));
	if (r->outcome == TG_MIGRATED)
		FUZZ_CHECK(r->migrate_to != 0, "migrated to 0");
	FUZZ_CHECK(n < sizeof(r->description), "description not terminated");
	FUZZ_CHECK(fuzz_utf8_ok(r->description, n),
		   "description not valid UTF-8");
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)r->description[i] >= 0x20 &&
			   r->description[i] != 0x7f,
			   "control character in description");
	check_redacted(r->description);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_reply r;
	int curl_code = 0;
	const char *curl_err = NULL;
	char *body, *errbuf = NULL;
	size_t len;
	long status;

	if (size < 3)
		return 0;
	/* 0..199: transfer ok; 200..227 a CURLcode without text; 228..255
	 * a CURLcode with the body as its error text. */
	if (data[0] >= 200)
		curl_code = 1 + data[0] % 98;
	status = data[1] < 0x80 ? statuses[data[1] % ARRAY_LEN(statuses)] :
		 (long)(((data[1] & 0x7f) << 8) | data[2]);
	data += 3;
	size -= 3;
	body = fuzz_dup(data, size, 0);
	if (curl_code != 0 && data[-3] >= 228) {
		/* curl's error buffer: CURL_ERROR_SIZE bytes, terminated */
		len = size < 255 ? size : 255;
		errbuf = fuzz_dup(data, len, 1);
		curl_err = errbuf;
	}

	memset(&r, 0xa5, sizeof(r));
	tg_classify(&r, curl_code, curl_err, status, body, size);
	check_reply(&r, status);
	if (curl_code != 0)
		FUZZ_CHECK(r.outcome == TG_TRANSIENT && r.json == NULL,
			   "failed transfer not transient");
	tg_reply_free(&r);
	FUZZ_CHECK(r.json == NULL, "tg_reply_free left json");
	tg_reply_free(&r); /* twice is harmless */

	free(errbuf);
	free(body);
	return 0;
}
