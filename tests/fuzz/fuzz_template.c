/*
 * fuzz_template.c - libFuzzer target for message templates
 * (alerts/template.c) and the splitter of rendered HTML (format.c's
 * format_html_parts). The input is NUL-separated: a flags byte, then the
 * template text, title, text, source, a label value and a url. Whatever
 * the template and the alert, format_alert_template must give 1..max
 * parts that each pass the Telegram HTML validator (a rendering that does
 * not falls back to the built-in layout), and the plain variant valid,
 * non-empty UTF-8; compiling never crashes, and a failure says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/template.c"
#include "alerts/format.c"
#include "alerts/tghtml.c"
#include "alerts/severity.c"
#include "alerts/alert.c"
#include "bot/util.c"
#include "alerts/tgvalidate.c"
#include "bot/url.c"
#include "bot/utf8.c"
#include "tests/fuzz/fuzz.h"

#define NFIELDS 6

/* Field i of the NUL-separated input (a copy, NULL when absent or not
 * valid UTF-8, as alert_parse would refuse it). */
static char *field(const uint8_t *d, size_t n, int want)
{
	size_t i = 0, start = 0;
	int k = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && d[i] != '\0')
			continue;
		if (k == want) {
			if (i == start || !utf8_valid((const char *)d + start,
						      i - start))
				return NULL;
			return fuzz_dup(d + start, i - start, 1);
		}
		k++;
		start = i + 1;
	}
	return NULL;
}

static void check_parts(const struct template *t, const struct alert *a,
			const struct format_extra *x, size_t max, int plain)
{
	char *parts[FORMAT_MAX_PARTS + 1], why[256];
	int n, k;

	memset(parts, 0, sizeof(parts));
	n = format_alert_template(t, a, x, plain, parts, max);
	FUZZ_CHECK(n >= 1 && (size_t)n <= max, "%d parts (max %zu)", n, max);
	for (k = n; k <= FORMAT_MAX_PARTS; k++)
		FUZZ_CHECK(parts[k] == NULL, "wrote past the parts it returned");
	for (k = 0; k < n; k++) {
		size_t len = strlen(parts[k]);

		if (plain)
			FUZZ_CHECK(len > 0 && fuzz_utf8_ok(parts[k], len),
				   "plain part %d not valid text", k);
		else
			FUZZ_CHECK(tg_html_validate(parts[k], len, why,
						    sizeof(why)) == 0,
				   "part %d/%d invalid: %s: %s", k + 1, n, why,
				   parts[k]);
		free(parts[k]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[NFIELDS + 1], err[512], labels[1200];
	struct format_extra x;
	struct template *t;
	struct alert a;
	uint8_t flags = size > 0 ? data[0] : 0;
	size_t max = 1 + (flags >> 5) % FORMAT_MAX_PARTS;

	if (size < 1)
		return 0;
	for (int i = 1; i <= NFIELDS; i++)
		f[i] = field(data, size, i);
	memset(&a, 0, sizeof(a));
	memset(&x, 0, sizeof(x));
	a.id = 1;
	a.severity = (enum severity)(flags % SEV_COUNT);
	a.status = (flags & 8) ? ALERT_RESOLVED : ALERT_FIRING;
	a.title = f[2];
	a.text = f[3] ? f[3] : (char *)"-";
	a.source = f[4];
	a.key = f[4];
	a.url = f[6];
	if (f[5] != NULL && strlen(f[5]) <= ALERT_MAX_LABEL_VALUE) {
		cJSON *o = cJSON_CreateObject();
		char *js;

		cJSON_AddStringToObject(o, "l", f[5]);
		cJSON_AddStringToObject(o, f[5], "v");
		js = cJSON_PrintUnformatted(o);
		str_copy(labels, js ? js : "{}", sizeof(labels));
		cJSON_free(js);
		cJSON_Delete(o);
		a.labels = labels;
	}
	if (flags & 16)
		x.acked_by = f[4];
	err[0] = '\0';
	t = f[1] ? template_compile(f[1], strlen(f[1]), "fuzz.tpl", 1, err,
				    sizeof(err)) : NULL;
	FUZZ_CHECK(f[1] == NULL || t != NULL ||
		   strncmp(err, "fuzz.tpl:", 9) == 0,
		   "compile failed without saying where: %s", err);
	check_parts(t, &a, &x, max, 0);
	check_parts(t, &a, &x, max, 1);
	template_free(t);
	for (int i = 1; i <= NFIELDS; i++)
		free(f[i]);
	return 0;
}
