/*
 * fuzz_webhook_am.c - libFuzzer target for the HTTP intake's
 * Alertmanager (v4) payload parser: webhook_parse(WEBHOOK_ALERTMANAGER) on
 * arbitrary bytes, every result checked by tests/fuzz/fuzz_webhook.h.
 */
#include "tests/fuzz/fuzz_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fw_run(WEBHOOK_ALERTMANAGER, data, size);
}
