/*
 * fuzz_webhook_generic.c - libFuzzer target for the HTTP intake's
 * generic (socket-shaped) payload parser: webhook_parse(WEBHOOK_GENERIC) on
 * arbitrary bytes, every result checked by tests/fuzz/fuzz_webhook.h.
 */
#include "tests/fuzz/fuzz_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fw_run(WEBHOOK_GENERIC, data, size);
}
