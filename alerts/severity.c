/*
 * severity.c - severity names, shared by the alert parser, the config
 * loader and the commands.
 */
#include <strings.h>

#include "alerts/alert.h"

static const char *const sev_names[SEV_COUNT] = {
	"critical", "error", "warning", "info", "debug"
};

const char *severity_name(enum severity s)
{
	return (unsigned)s < SEV_COUNT ? sev_names[s] : NULL;
}

int severity_parse(const char *name)
{
	for (int i = 0; i < SEV_COUNT; i++)
		if (strcasecmp(name, sev_names[i]) == 0)
			return i;
	return -1;
}
