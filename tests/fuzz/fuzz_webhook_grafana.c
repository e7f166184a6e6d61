/*
 * fuzz_webhook_grafana.c - libFuzzer target for the HTTP intake's
 * Grafana payload parser: webhook_parse(WEBHOOK_GRAFANA) on
 * arbitrary bytes, every result checked by tests/fuzz/fuzz_webhook.h.
 */
#include "tests/fuzz/fuzz_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fw_run(WEBHOOK_GRAFANA, data, size);
}
