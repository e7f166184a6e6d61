/*
 * tz.h - local time in a named time zone ("Europe/Berlin") without
 * touching the process's TZ: the zone's TZif file from the tz database
 * (RFC 8536; $TZDIR, else /usr/share/zoneinfo) is read once into a
 * struct tz, and instants are converted with it. localtime_r depends on
 * the one process-wide TZ (setenv + tzset), which the log's and the
 * store's times must not follow; this keeps the delivery time zone a
 * setting of its own.
 *
 * Leaf module: nothing logs; errors go to the caller's buffer.
 */
#ifndef OPSBOT_TZ_H
#define OPSBOT_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_NAME_MAX 64

struct tz;

/* Loads zone name. "UTC" (and "Etc/UTC", "GMT") work without a tz
 * database. Names are database names: letters, digits, '_', '-', '+',
 * '.' and '/' separated parts, no "..", not absolute. Returns 0 and
 * *out (caller tz_free()s), or -1 with the reason in err. */
int tz_load(struct tz **out, const char *name, char *err, size_t errlen);
void tz_free(struct tz *z);

/* Offset of local time from UTC at instant utc_s (seconds since the
 * epoch), in seconds east; *abbr (may be NULL) gets the abbreviation
 * ("CEST"), valid as long as z is. A NULL z is UTC. */
int32_t tz_offset(const struct tz *z, int64_t utc_s, const char **abbr);

/* strftime(fmt) of the instant wall_ms in zone z (NULL: UTC); "?" when
 * it cannot be shown. %Z gives the zone's abbreviation. */
void tz_format(const struct tz *z, char *dst, size_t size, int64_t wall_ms,
	       const char *fmt);

#endif
