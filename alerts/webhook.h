/*
 * webhook.h - the payload parsers of the HTTP intake (DESIGN.md "HTTP
 * intake"): a request body in, opsbot alerts out, all or nothing.
 *
 *   WEBHOOK_GENERIC       POST /api/v1/alerts: one alert object with the
 *                         socket's fields, or a JSON array of them, each
 *                         checked by alert_from_json() (the socket's rules,
 *                         the socket's default severity, info).
 *   WEBHOOK_ALERTMANAGER  POST /api/v1/alertmanager: Prometheus
 *                         Alertmanager's webhook payload, version "4".
 *   WEBHOOK_GRAFANA       POST /api/v1/grafana: Grafana alerting's webhook
 *                         contact point payload.
 *
 * Each element of an Alertmanager or Grafana "alerts" array becomes one
 * alert:
 *   status    the alert's status (else the payload's): firing or resolved
 *   key       "am:" or "grafana:" + fingerprint (required), so a resolution
 *             resolves what it fired as and a re-notification is a repeat
 *   severity  labels.severity, any case, with the aliases page, crit,
 *             fatal, emerg, emergency -> critical; err -> error; warn ->
 *             warning; information, informational, notice -> info;
 *             o->default_severity when absent or unknown
 *   title     annotations.summary, else labels.alertname
 *   text      annotations.description, else annotations.message (else
 *             none: the title alone is the message)
 *   source    labels.instance, else labels.job
 *   url       Alertmanager: generatorURL; Grafana: panelURL, else
 *             dashboardURL, else generatorURL (the first http(s) one;
 *             another scheme is dropped, not an error)
 *   labels    every label, sorted by name; past ALERT_MAX_LABELS only the
 *             first ALERT_MAX_LABELS by name (meta keeps them all)
 *   meta      {"via", "fingerprint", "externalURL", "startsAt", "endsAt",
 *             "labels", "links"} as described in alert.h; links are
 *             annotations.runbook_url ("runbook") and, from Grafana,
 *             dashboardURL, panelURL, silenceURL
 * title, text and source longer than their ALERT_MAX_* are cut on a
 * character boundary and end in "…": a long description must not cost
 * the alert. Labels are checked with the socket's rules (a bad one is an
 * error naming it); unknown fields are ignored; received_at, id and the
 * peer fields are left for the caller (0, 0, -1, -1).
 *
 * Never logs; errors go to the caller's buffer, ready for the 400 reply.
 */
#ifndef OPSBOT_WEBHOOK_H
#define OPSBOT_WEBHOOK_H

#include <stddef.h>

#include "alerts/alert.h"

/* Deepest nesting of arrays and objects in a body (real payloads need 4);
 * checked on the raw bytes before cJSON sees them. */
#define WEBHOOK_MAX_DEPTH 32
/* JSON values a body may hold: WEBHOOK_VALUES_BASE plus this many per
 * allowed alert. Bounds cJSON's memory (about 64 bytes per value) however
 * the bytes are spent. */
#define WEBHOOK_VALUES_BASE 1024
#define WEBHOOK_VALUES_PER_ALERT 256
/* Labels of one Alertmanager or Grafana alert (all are kept in meta). */
#define WEBHOOK_MAX_LABELS 64
/* Bytes of a fingerprint and of a startsAt/endsAt string. */
#define WEBHOOK_MAX_FINGERPRINT 128
#define WEBHOOK_MAX_TIME 64

enum webhook_kind { WEBHOOK_GENERIC, WEBHOOK_ALERTMANAGER, WEBHOOK_GRAFANA };

struct webhook_opts {
	int default_severity; /* enum severity for Alertmanager and Grafana
	                       * alerts without a known one; out of range
	                       * reads as SEV_WARNING */
	size_t max_alerts;    /* alerts per body; more is an error */
};

/*
 * Parses body (len bytes, need not be NUL-terminated) into up to
 * o->max_alerts alerts. Returns the count >= 0 with *out a calloc'd array
 * of that many (NULL when 0): the caller alert_free()s each, then free()s
 * the array. Returns -1 with "[i] field: what is wrong" (i the 0-based
 * index in the body's alerts; a single generic object is [0]), or
 * "body: ..." or a payload-wide field ("alerts: ...", "version: ...",
 * "status: ...", "externalURL: ...") for the payload as a whole, in err;
 * *out is then NULL and nothing needs freeing. All or nothing.
 */
int webhook_parse(enum webhook_kind kind, const char *body, size_t len,
		  const struct webhook_opts *o, struct alert **out, char *err,
		  size_t errlen);

/* "generic", "alertmanager", "grafana" (for logs and metrics labels). */
const char *webhook_kind_name(enum webhook_kind kind);

#endif
