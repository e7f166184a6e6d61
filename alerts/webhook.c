/*
 * webhook.c - the HTTP intake's payload parsers (see webhook.h): the
 * generic alert array, Alertmanager's webhook v4 and Grafana's webhook
 * contact point, each mapped onto struct alert.
 *
 * A body goes through three gates before any mapping: a scan of the raw
 * bytes for nesting depth and the number of JSON values (so a bomb costs
 * one linear pass, never cJSON's memory or recursion), alert_json_parse()
 * (the socket's UTF-8, NUL and escape rules), then the payload's shape.
 * Every alert is built in full before the next; the first error frees
 * what was built, so the caller gets all alerts or none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "alerts/webhook.h"
#include "bot/utf8.h"
#include "bot/util.h"

/* Longest user value echoed in an error message. */
#define ECHO_MAX 32
/* "…": the mark of a value cut to its limit. */
#define ELLIPSIS "\xe2\x80\xa6"

/* What differs between the two webhook payloads. */
struct payload_kind {
	const char *via;        /* meta "via" */
	const char *key_prefix; /* key = prefix + fingerprint */
	const char *version;    /* required "version" if set, else any */
};

static const struct payload_kind kind_am = { "alertmanager", "am:", "4" };
static const struct payload_kind kind_grafana = {
	"grafana", "grafana:", NULL
};

/* The payload-wide values every alert of a webhook body shares. */
struct payload {
	const struct payload_kind *kind;
	const char *status;       /* top-level status, may be NULL */
	const char *external_url; /* http(s) only, else NULL */
	int default_severity;
};

static const struct {
	const char *name;
	enum severity sev;
} sev_aliases[] = {
	{ "page", SEV_CRITICAL }, { "crit", SEV_CRITICAL },
	{ "fatal", SEV_CRITICAL }, { "emerg", SEV_CRITICAL },
	{ "emergency", SEV_CRITICAL }, { "err", SEV_ERROR },
	{ "warn", SEV_WARNING }, { "information", SEV_INFO },
	{ "informational", SEV_INFO }, { "notice", SEV_INFO },
};

const char *webhook_kind_name(enum webhook_kind kind)
{
	switch (kind) {
	case WEBHOOK_GENERIC:
		return "generic";
	case WEBHOOK_ALERTMANAGER:
		return "alertmanager";
	case WEBHOOK_GRAFANA:
		return "grafana";
	}
	return "unknown";
}

/* ` "v"` when v is short printable ASCII, fit to echo; else "". */
static const char *echo(char *buf, size_t size, const char *v)
{
	size_t n = strlen(v);

	buf[0] = '\0';
	if (n > ECHO_MAX)
		return buf;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E ||
		    v[i] == '"' || v[i] == '\\')
			return buf;
	snprintf(buf, size, " \"%s\"", v);
	return buf;
}

/*
 * One linear pass over the raw bytes: arrays and objects nested at most
 * WEBHOOK_MAX_DEPTH deep, at most max_values values (each ',' '[' '{'
 * outside strings starts one). Malformed JSON passes here; cJSON reports
 * it next.
 */
static int prescan(const char *s, size_t n, size_t max_values, char *err,
		   size_t errlen)
{
	size_t depth = 0, values = 1;
	int in_string = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > WEBHOOK_MAX_DEPTH)
				return err_set(err, errlen, "body: nested deeper"
					       " than %d levels",
					       WEBHOOK_MAX_DEPTH);
			values++;
		} else if (c == ']' || c == '}') {
			if (depth > 0)
				depth--;
		} else if (c == ',') {
			values++;
		} else {
			continue;
		}
		if (values > max_values)
			return err_set(err, errlen, "body: more than %zu JSON"
				       " values", max_values);
	}
	return 0;
}

/* WEBHOOK_VALUES_BASE + WEBHOOK_VALUES_PER_ALERT * max, without
 * overflow. */
static size_t values_limit(size_t max_alerts)
{
	if (max_alerts > (SIZE_MAX - WEBHOOK_VALUES_BASE) /
	    WEBHOOK_VALUES_PER_ALERT)
		return SIZE_MAX;
	return WEBHOOK_VALUES_BASE + max_alerts * WEBHOOK_VALUES_PER_ALERT;
}

static void free_alerts(struct alert *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		alert_free(&a[i]);
	free(a);
}

/* --- generic --- */

static int parse_generic(const cJSON *root, const struct webhook_opts *o,
			 struct alert **out, char *err, size_t errlen)
{
	const cJSON *el = root;
	struct alert *arr;
	char e[256];
	size_t n = 1, i = 0;

	if (cJSON_IsArray(root)) {
		n = (size_t)cJSON_GetArraySize(root);
		el = root->child;
	} else if (!cJSON_IsObject(root)) {
		return err_set(err, errlen, "body: expected an alert object or"
			       " an array of them (got %s)", alert_json_kind(root));
	}
	if (n > o->max_alerts)
		return err_set(err, errlen, "body: more than %zu alerts",
			       o->max_alerts);
	if (n == 0)
		return 0;
	if ((arr = calloc(n, sizeof(*arr))) == NULL)
		return err_set(err, errlen, "body: out of memory");
	for (; i < n && el != NULL; i++, el = el->next) {
		if (alert_from_json(el, &arr[i], e, sizeof(e)) != 0) {
			free_alerts(arr, i);
			return err_set(err, errlen, "[%zu] %s", i, e);
		}
	}
	*out = arr;
	return (int)n;
}

/* --- Alertmanager and Grafana --- */

/*
 * Gets member name of obj as a string; *v stays NULL when it is absent or
 * null. what names it in errors (e.g. "annotations.summary"). A string
 * with a NUL, or longer than max bytes, is an error.
 */
static int member_str(const cJSON *obj, const char *name, const char *what,
		      size_t max, const char **v, char *err, size_t errlen)
{
	const cJSON *m;
	size_t n;

	*v = NULL;
	if (obj == NULL)
		return 0;
	m = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (m == NULL || cJSON_IsNull(m))
		return 0;
	if (!cJSON_IsString(m) || m->valuestring == NULL)
		return err_set(err, errlen, "%s: expected a string (got %s)",
			       what, alert_json_kind(m));
	n = strlen(m->valuestring);
	if (memchr(m->valuestring, ALERT_NUL_MARK, n) != NULL)
		return err_set(err, errlen, "%s: contains a NUL character",
			       what);
	/* The body was valid UTF-8; this guards the decoded escapes. */
	if (!utf8_valid(m->valuestring, n))
		return err_set(err, errlen, "%s: invalid UTF-8", what);
	if (n > max)
		return err_set(err, errlen, "%s: longer than %zu bytes", what,
			       max);
	*v = m->valuestring;
	return 0;
}

/* Gets member name as an object (NULL when absent or null). */
static int member_obj(const cJSON *obj, const char *name, const cJSON **v,
		      char *err, size_t errlen)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	*v = NULL;
	if (m == NULL || cJSON_IsNull(m))
		return 0;
	if (!cJSON_IsObject(m))
		return err_set(err, errlen, "%s: expected an object (got %s)",
			       name, alert_json_kind(m));
	*v = m;
	return 0;
}

/* A label's value (labels were checked: every member is a string). */
static const char *label(const cJSON *labels, const char *name)
{
	const cJSON *m;

	if (labels == NULL)
		return NULL;
	m = cJSON_GetObjectItemCaseSensitive(labels, name);
	return m != NULL && cJSON_IsString(m) && m->valuestring[0] != '\0' ?
	       m->valuestring : NULL;
}

/* NULL for NULL or "", so that empty annotations count as absent. */
static const char *nonempty(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* A copy of v cut to at most max bytes on a character boundary, ending in
 * ELLIPSIS when cut; NULL for NULL. *oom set on allocation failure. */
static char *dup_cut(const char *v, size_t max, int *oom)
{
	size_t n, cut;
	char *d;

	if (v == NULL)
		return NULL;
	n = strlen(v);
	cut = n;
	if (n > max) {
		cut = max - (sizeof(ELLIPSIS) - 1);
		while (cut > 0 && ((unsigned char)v[cut] & 0xC0) == 0x80)
			cut--;
	}
	if ((d = malloc(cut + sizeof(ELLIPSIS))) == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(d, v, cut);
	d[cut] = '\0';
	if (cut < n)
		strcat(d, ELLIPSIS);
	return d;
}

static int severity_of(const char *v, int dflt)
{
	int s;

	if (v == NULL)
		return dflt;
	if ((s = severity_parse(v)) >= 0)
		return s;
	for (size_t i = 0; i < ARRAY_LEN(sev_aliases); i++)
		if (strcasecmp(v, sev_aliases[i].name) == 0)
			return (int)sev_aliases[i].sev;
	return dflt;
}

static int read_status(const cJSON *item, const struct payload *p,
			struct alert *a, char *err, size_t errlen)
{
	char q[ECHO_MAX + 8];
	const char *v;

	if (member_str(item, "status", "status", 64, &v, err, errlen) != 0)
		return -1;
	if (v == NULL && (v = p->status) == NULL)
		return err_set(err, errlen, "status: required");
	if (strcasecmp(v, "firing") == 0)
		a->status = ALERT_FIRING;
	else if (strcasecmp(v, "resolved") == 0)
		a->status = ALERT_RESOLVED;
	else
		return err_set(err, errlen, "status: unknown value%s (expected"
			       " firing or resolved)", echo(q, sizeof(q), v));
	return 0;
}

/* Sets a->key from the fingerprint: required, printable, no spaces. */
static int parse_key(const cJSON *item, const struct payload *p,
		     struct alert *a, const char **fp, char *err,
		     size_t errlen)
{
	size_t n;

	if (member_str(item, "fingerprint", "fingerprint",
		       WEBHOOK_MAX_FINGERPRINT, fp, err, errlen) != 0)
		return -1;
	if (*fp == NULL || (*fp)[0] == '\0')
		return err_set(err, errlen, "fingerprint: required");
	for (const char *c = *fp; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7F)
			return err_set(err, errlen, "fingerprint: contains a"
				       " space or a non-ASCII character");
	n = strlen(p->kind->key_prefix) + strlen(*fp) + 1;
	if ((a->key = malloc(n)) == NULL)
		return err_set(err, errlen, "fingerprint: out of memory");
	snprintf(a->key, n, "%s%s", p->kind->key_prefix, *fp);
	return 0;
}

static int cmp_label(const void *x, const void *y)
{
	const cJSON *const *a = x, *const *b = y;

	return strcmp((*a)->string, (*b)->string);
}

/* a->labels: the checked labels sorted by name, the first
 * ALERT_MAX_LABELS of them. */
static int build_labels(const cJSON *labels, struct alert *a, char *err,
			size_t errlen)
{
	const cJSON *sorted[WEBHOOK_MAX_LABELS];
	cJSON *o;
	size_t n = 0;

	if (labels == NULL)
		return 0;
	for (const cJSON *l = labels->child; l != NULL; l = l->next)
		sorted[n++] = l;	/* at most WEBHOOK_MAX_LABELS: checked */
	if (n == 0)
		return 0;
	qsort(sorted, n, sizeof(sorted[0]), cmp_label);
	if (n > ALERT_MAX_LABELS)
		n = ALERT_MAX_LABELS;
	if ((o = cJSON_CreateObject()) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (cJSON_AddStringToObject(o, sorted[i]->string,
					    sorted[i]->valuestring) == NULL) {
			cJSON_Delete(o);
			goto oom;
		}
	a->labels = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (a->labels == NULL)
		goto oom;
	return 0;
oom:
	return err_set(err, errlen, "labels: out of memory");
}

/* Title, text and source from annotations and labels. */
static int build_texts(const cJSON *labels, const cJSON *ann,
		       struct alert *a, char *err, size_t errlen)
{
	const char *summary, *desc, *msg, *title, *text, *source;
	int oom = 0;

	if (member_str(ann, "summary", "annotations.summary", SIZE_MAX,
		       &summary, err, errlen) != 0 ||
	    member_str(ann, "description", "annotations.description",
		       SIZE_MAX, &desc, err, errlen) != 0 ||
	    member_str(ann, "message", "annotations.message", SIZE_MAX, &msg,
		       err, errlen) != 0)
		return -1;
	title = nonempty(summary) != NULL ? summary : label(labels,
							    "alertname");
	text = nonempty(desc) != NULL ? desc : nonempty(msg);
	if (title == NULL && text == NULL)
		return err_set(err, errlen, "labels.alertname: required (or"
			       " annotations.summary)");
	source = label(labels, "instance");
	if (source == NULL)
		source = label(labels, "job");
	a->title = dup_cut(title, ALERT_MAX_TITLE, &oom);
	a->text = dup_cut(text, ALERT_MAX_TEXT, &oom);
	a->source = dup_cut(source, ALERT_MAX_SOURCE, &oom);
	if (oom)
		return err_set(err, errlen, "alert: out of memory");
	return 0;
}

/* Adds {"name":name,"url":url} to links when url is fit for a link. */
static int add_link(cJSON *links, const char *name, const char *url)
{
	cJSON *l;

	if (url == NULL || !alert_url_ok(url))
		return 0;
	if ((l = cJSON_CreateObject()) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(links, l) ||
	    cJSON_AddStringToObject(l, "name", name) == NULL ||
	    cJSON_AddStringToObject(l, "url", url) == NULL)
		return -1;
	return 0;
}

/* The URLs of one alert: its url field and the links of its meta. */
struct urls {
	const char *generator, *runbook, *dashboard, *panel, *silence;
};

static int get_urls(const cJSON *item, const cJSON *ann,
		    const struct payload *p, struct urls *u, char *err,
		    size_t errlen)
{
	memset(u, 0, sizeof(*u));
	/* SIZE_MAX: a link that is too long is dropped, not an error. */
	if (member_str(item, "generatorURL", "generatorURL", SIZE_MAX,
		       &u->generator, err, errlen) != 0 ||
	    member_str(ann, "runbook_url", "annotations.runbook_url",
		       SIZE_MAX, &u->runbook, err, errlen) != 0)
		return -1;
	if (p->kind != &kind_grafana)
		return 0;
	if (member_str(item, "dashboardURL", "dashboardURL", SIZE_MAX,
		       &u->dashboard, err, errlen) != 0 ||
	    member_str(item, "panelURL", "panelURL", SIZE_MAX, &u->panel, err,
		       errlen) != 0 ||
	    member_str(item, "silenceURL", "silenceURL", SIZE_MAX,
		       &u->silence, err, errlen) != 0)
		return -1;
	return 0;
}

static int set_url(const struct urls *u, struct alert *a, char *err,
		   size_t errlen)
{
	const char *pick[3] = { u->panel, u->dashboard, u->generator };

	for (size_t i = 0; i < ARRAY_LEN(pick); i++) {
		if (pick[i] == NULL || !alert_url_ok(pick[i]))
			continue;
		if ((a->url = strdup(pick[i])) == NULL)
			return err_set(err, errlen, "url: out of memory");
		break;
	}
	return 0;
}

/* Adds a time member unless absent or Go's zero time (endsAt of a firing
 * alert). */
static int add_time(cJSON *meta, const cJSON *item, const char *name,
		    char *err, size_t errlen)
{
	const char *v;

	if (member_str(item, name, name, WEBHOOK_MAX_TIME, &v, err,
		       errlen) != 0)
		return -1;
	if (v == NULL || v[0] == '\0' || strncmp(v, "0001-01-01", 10) == 0)
		return 0;
	if (cJSON_AddStringToObject(meta, name, v) == NULL)
		return err_set(err, errlen, "%s: out of memory", name);
	return 0;
}

static int add_links(cJSON *meta, const struct urls *u)
{
	cJSON *links = cJSON_CreateArray();

	if (links == NULL || !cJSON_AddItemToObject(meta, "links", links)) {
		cJSON_Delete(links);
		return -1;
	}
	if (add_link(links, "runbook", u->runbook) != 0 ||
	    add_link(links, "dashboard", u->dashboard) != 0 ||
	    add_link(links, "panel", u->panel) != 0 ||
	    add_link(links, "silence", u->silence) != 0)
		return -1;
	if (cJSON_GetArraySize(links) == 0)
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "links");
	return 0;
}

/* a->meta: see alert.h. */
static int build_meta(const cJSON *item, const cJSON *labels,
		      const char *fp, const struct urls *u,
		      const struct payload *p, struct alert *a, char *err,
		      size_t errlen)
{
	cJSON *meta = cJSON_CreateObject();
	int rc = -1;

	if (meta == NULL ||
	    cJSON_AddStringToObject(meta, "via", p->kind->via) == NULL ||
	    cJSON_AddStringToObject(meta, "fingerprint", fp) == NULL ||
	    (p->external_url != NULL &&
	     cJSON_AddStringToObject(meta, "externalURL",
				     p->external_url) == NULL))
		goto oom;
	if (add_time(meta, item, "startsAt", err, errlen) != 0 ||
	    add_time(meta, item, "endsAt", err, errlen) != 0)
		goto out;
	if (labels != NULL && labels->child != NULL &&
	    !cJSON_AddItemToObject(meta, "labels",
				   cJSON_Duplicate(labels, 1)))
		goto oom;
	if (add_links(meta, u) != 0 ||
	    (a->meta = cJSON_PrintUnformatted(meta)) == NULL)
		goto oom;
	if (strlen(a->meta) > ALERT_MAX_META) {
		err_set(err, errlen, "labels: too large to keep (metadata over"
			" %d bytes)", ALERT_MAX_META);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	err_set(err, errlen, "alert: out of memory");
out:
	cJSON_Delete(meta);
	return rc;
}

/* Maps one element of "alerts" onto *a; on -1 *a holds nothing. */
static int map_alert(const cJSON *item, const struct payload *p,
		     struct alert *a, char *err, size_t errlen)
{
	const cJSON *labels, *ann;
	const char *fp;
	struct urls u;

	memset(a, 0, sizeof(*a));
	a->peer_uid = -1;
	a->peer_pid = -1;
	if (!cJSON_IsObject(item))
		return err_set(err, errlen, "alert: expected an object (got %s)",
			       alert_json_kind(item));
	if (member_obj(item, "labels", &labels, err, errlen) != 0 ||
	    (labels != NULL && alert_labels_check(labels, WEBHOOK_MAX_LABELS,
						  err, errlen) != 0) ||
	    member_obj(item, "annotations", &ann, err, errlen) != 0 ||
	    read_status(item, p, a, err, errlen) != 0 ||
	    parse_key(item, p, a, &fp, err, errlen) != 0 ||
	    build_texts(labels, ann, a, err, errlen) != 0 ||
	    build_labels(labels, a, err, errlen) != 0 ||
	    get_urls(item, ann, p, &u, err, errlen) != 0 ||
	    set_url(&u, a, err, errlen) != 0 ||
	    build_meta(item, labels, fp, &u, p, a, err, errlen) != 0) {
		alert_free(a);
		return -1;
	}
	a->severity = (enum severity)severity_of(label(labels, "severity"),
						 p->default_severity);
	return 0;
}

/* The payload-wide members: version, status, externalURL. */
static int read_payload(const cJSON *root, struct payload *p, char *err,
			size_t errlen)
{
	char q[ECHO_MAX + 8];
	const char *v;

	if (member_str(root, "version", "version", 64, &v, err, errlen) != 0)
		return -1;
	if (p->kind->version != NULL && v != NULL &&
	    strcmp(v, p->kind->version) != 0)
		return err_set(err, errlen, "version: expected \"%s\" (got%s)",
			       p->kind->version, v[0] != '\0' ?
			       echo(q, sizeof(q), v) : " \"\"");
	if (member_str(root, "status", "status", 64, &p->status, err,
		       errlen) != 0 ||
	    member_str(root, "externalURL", "externalURL", SIZE_MAX, &v, err,
		       errlen) != 0)
		return -1;
	p->external_url = v != NULL && alert_url_ok(v) ? v : NULL;
	return 0;
}

static int parse_payload(const struct payload_kind *kind, const cJSON *root,
			 const struct webhook_opts *o, struct alert **out,
			 char *err, size_t errlen)
{
	struct payload p = { kind, NULL, NULL, o->default_severity };
	const cJSON *alerts, *el;
	struct alert *arr;
	char e[256];
	size_t n, i = 0;

	if (!cJSON_IsObject(root))
		return err_set(err, errlen, "body: expected a JSON object (got"
			       " %s)", alert_json_kind(root));
	if (p.default_severity < 0 || p.default_severity >= SEV_COUNT)
		p.default_severity = SEV_WARNING;
	if (read_payload(root, &p, err, errlen) != 0)
		return -1;
	alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
	if (alerts == NULL || cJSON_IsNull(alerts))
		return err_set(err, errlen, "alerts: required");
	if (!cJSON_IsArray(alerts))
		return err_set(err, errlen, "alerts: expected an array (got %s)",
			       alert_json_kind(alerts));
	n = (size_t)cJSON_GetArraySize(alerts);
	if (n > o->max_alerts)
		return err_set(err, errlen, "alerts: more than %zu alerts",
			       o->max_alerts);
	if (n == 0)
		return 0;
	if ((arr = calloc(n, sizeof(*arr))) == NULL)
		return err_set(err, errlen, "body: out of memory");
	for (el = alerts->child; i < n && el != NULL; i++, el = el->next) {
		if (map_alert(el, &p, &arr[i], e, sizeof(e)) != 0) {
			free_alerts(arr, i);
			return err_set(err, errlen, "[%zu] %s", i, e);
		}
	}
	*out = arr;
	return (int)n;
}

int webhook_parse(enum webhook_kind kind, const char *body, size_t len,
		  const struct webhook_opts *o, struct alert **out, char *err,
		  size_t errlen)
{
	cJSON *root;
	int n;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (body == NULL)
		len = 0;
	if (prescan(body, len, values_limit(o->max_alerts), err,
		    errlen) != 0 ||
	    alert_json_parse(body, len, &root, err, errlen) != 0)
		return -1;
	switch (kind) {
	case WEBHOOK_GENERIC:
		n = parse_generic(root, o, out, err, errlen);
		break;
	case WEBHOOK_ALERTMANAGER:
		n = parse_payload(&kind_am, root, o, out, err, errlen);
		break;
	case WEBHOOK_GRAFANA:
		n = parse_payload(&kind_grafana, root, o, out, err, errlen);
		break;
	default:
		n = err_set(err, errlen, "body: unknown payload kind");
		break;
	}
	cJSON_Delete(root);
	return n;
}
