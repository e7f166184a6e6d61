/*
 * route.c - routing alerts to chats by source, severity and labels, and
 * picking the template of a delivery. See route.h.
 */
#include "alerts/route.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "alerts/store.h"
#include "alerts/template.h"
#include "bot/util.h"

/* The value of label name in a's labels (a parsed object), or NULL. */
static const char *route_label(const cJSON *labels, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One label condition; why gets the reason when it fails. */
static int route_label_ok(const struct label_match *m, const cJSON *labels,
			  char *why, size_t whylen)
{
	const char *v = route_label(labels, m->name);
	int hit;

	if (v == NULL) {
		if (m->negate)
			return 1;
		snprintf(why, whylen, "label %s is absent (wanted \"%s\")",
			 m->name, m->glob);
		return 0;
	}
	hit = fnmatch(m->glob, v, 0) == 0;
	if (hit != m->negate)
		return 1;
	snprintf(why, whylen, "label %s=\"%.80s\" %s \"%s\"", m->name, v,
		 m->negate ? "matches the excluded" : "does not match",
		 m->glob);
	return 0;
}

int route_match(const struct route *r, const struct alert *a, char *why,
		size_t whylen)
{
	char tmp[512], dummy[1];
	const char *sev = severity_name(a->severity);
	cJSON *labels = NULL;
	size_t i;
	int ok = 1;

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	if ((int)a->severity > r->min_severity) {
		snprintf(why, whylen, "severity %s is below %s", sev ? sev : "?",
			 severity_name((enum severity)r->min_severity));
		return 0;
	}
	if (r->source[0] != '\0' &&
	    fnmatch(r->source, a->source ? a->source : "", 0) != 0) {
		snprintf(why, whylen, "source \"%.80s\" does not match \"%s\"",
			 a->source ? a->source : "", r->source);
		return 0;
	}
	if (r->nlabels > 0 && a->labels != NULL)
		labels = cJSON_Parse(a->labels);
	for (i = 0; ok && i < r->nlabels; i++)
		ok = route_label_ok(&r->labels[i], labels, tmp, sizeof(tmp));
	if (!ok) {
		snprintf(why, whylen, "%s", tmp);
		cJSON_Delete(labels);
		return 0;
	}
	snprintf(why, whylen, "severity %s >= %s", sev ? sev : "?",
		 severity_name((enum severity)r->min_severity));
	if (r->source[0] != '\0')
		snprintf(why + strlen(why), whylen - strlen(why),
			 ", source \"%.80s\" matches \"%s\"", a->source,
			 r->source);
	for (i = 0; i < r->nlabels; i++) {
		const struct label_match *m = &r->labels[i];
		const char *v = route_label(labels, m->name);

		if (v == NULL)
			snprintf(why + strlen(why), whylen - strlen(why),
				 ", label %s absent (not \"%s\")", m->name,
				 m->glob);
		else
			snprintf(why + strlen(why), whylen - strlen(why),
				 ", label %s=\"%.80s\" %s \"%s\"", m->name, v,
				 m->negate ? "does not match" : "matches",
				 m->glob);
	}
	cJSON_Delete(labels);
	return 1;
}

static size_t route_add(struct dest *out, size_t n, size_t max, int64_t chat,
			int64_t thread)
{
	for (size_t i = 0; i < n; i++)
		if (out[i].chat_id == chat)
			return n;
	if (n < max) {
		out[n].chat_id = chat;
		out[n].thread_id = thread;
		n++;
	}
	return n;
}

size_t route_dests(const struct config *cfg, const struct alert *a,
		   struct dest *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route *r = &cfg->routes[i];

		if (!route_match(r, a, NULL, 0))
			continue;
		for (size_t j = 0; j < r->nchats; j++)
			n = route_add(out, n, max, r->chats[j], r->thread_id);
	}
	if (n == 0)
		for (size_t j = 0; j < cfg->nchats; j++)
			n = route_add(out, n, max, cfg->chats[j], 0);
	return n;
}

const char *route_template(const struct config *cfg, const struct alert *a,
			   int64_t chat_id)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct route *r = &cfg->routes[i];
		size_t j;

		if (r->tpl.len == 0)
			continue;
		for (j = 0; j < r->nchats && r->chats[j] != chat_id; j++)
			;
		if (j < r->nchats && route_match(r, a, NULL, 0))
			return config_template(cfg, &r->tpl);
	}
	return config_template(cfg, &cfg->tpl);
}

int route_format(const struct config *cfg, const struct alert *a,
		 const struct format_extra *x, int64_t chat_id, int plain,
		 char **parts, size_t max)
{
	const char *text = cfg && a ? route_template(cfg, a, chat_id) : NULL;
	struct template *t = NULL;
	int n;

	/* Compiling is a few microseconds for an 8 KiB template: cheaper
	 * than keeping compiled templates in step with reloads. A template
	 * that does not compile (it did at load) gives the built-in
	 * layout. */
	if (text != NULL)
		t = template_compile(text, strlen(text), "template", 1, NULL, 0);
	n = format_alert_template(t, a, x, plain, parts, max);
	template_free(t);
	return n;
}
