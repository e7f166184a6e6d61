# fuzz.mk - libFuzzer targets (included by the Makefile).
#
#   make fuzz-build          builds build/fuzz/fuzz_{alert,tgreply,format,config,template}
#                            and fuzz_webhook_{am,grafana,generic}
#   make fuzz                builds, then runs each for FUZZ_SECONDS (default 30)
#   make fuzz FUZZ_SECONDS=300 FUZZ_TARGETS="alert format"
#   make fuzz-NAME           runs one target (e.g. make fuzz-format)
#   make fuzz-replay         replays the seed corpus only (deterministic, fast)
#   make fuzz-ci             replay, then every target for FUZZ_CI_SECONDS (10)
#
# Each target runs on build/fuzz/corpus/NAME, seeded from the repository's
# tests/fuzz/corpus/NAME/ (which runs never modify); findings go to
# build/fuzz/crashes/, logs to build/fuzz/NAME.log. `make fuzz` fails if any
# target found a crash, a leak, a timeout or a broken invariant.
#
# Needs clang with the libFuzzer and sanitizer runtimes. On Debian 12:
#   apt-get install clang libclang-rt-14-dev
# (libclang-rt-14-dev is only a Recommends of clang-14, so an install with
# --no-install-recommends needs it named.) FUZZ_CC picks another clang.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= alert tgreply format config template webhook_am \
                webhook_grafana webhook_generic
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   ?=

# max_len per target: alert lines and Bot API replies are small; a config
# file is text; the formatter needs inputs of more than one 4096-unit part.
FUZZ_MAXLEN_alert   ?= 8192
FUZZ_MAXLEN_tgreply ?= 4096
FUZZ_MAXLEN_config  ?= 4096
FUZZ_MAXLEN_format  ?= 20000
# Webhook bodies: a few alerts of real size.
FUZZ_MAXLEN_webhook_am      ?= 16384
FUZZ_MAXLEN_webhook_grafana ?= 16384
FUZZ_MAXLEN_webhook_generic ?= 16384
FUZZ_MAXLEN_template ?= 16384

FUZZ_SAN    := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer
# The main warning set, less what means something else to clang:
# -Wno-format-truncation is unknown to it, and its -Wcast-align flags casts
# on x86 that gcc's (the daemon's compiler) only flags on strict-alignment
# machines (config.c's offsetof tables).
FUZZ_WARN   := $(filter-out -Wno-format-truncation -Wcast-align,$(WARN))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -DOPSBOT_VERSION='"$(VERSION)"' -g -O1 \
               $(FUZZ_WARN) $(FUZZ_SAN) -I. \
               -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_BINS   := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

FUZZ_CI_SECONDS ?= 10

.PHONY: fuzz fuzz-build fuzz-check fuzz-replay fuzz-ci $(FUZZ_TARGETS:%=fuzz-%)

# A clear message instead of a compiler error when clang or its fuzzer
# runtime is missing.
fuzz-check:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	  echo "make fuzz: '$(FUZZ_CC)' not found. libFuzzer needs clang:" >&2; \
	  echo "  apt-get install clang libclang-rt-14-dev   (Debian 12)" >&2; \
	  echo "  or: make fuzz FUZZ_CC=clang-NN" >&2; exit 1; }
	@mkdir -p $(FUZZ_DIR)
	@printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	  '{ (void)d; (void)n; return 0; }' > $(FUZZ_DIR)/probe.c
	@$(FUZZ_CC) $(FUZZ_SAN) -o $(FUZZ_DIR)/probe $(FUZZ_DIR)/probe.c \
	  2>$(FUZZ_DIR)/probe.log || { \
	  echo "make fuzz: $(FUZZ_CC) cannot link -fsanitize=fuzzer,address,undefined:" >&2; \
	  sed 's/^/  /' $(FUZZ_DIR)/probe.log >&2; \
	  echo "  FUZZ_CC must be clang with its libFuzzer runtime; on Debian 12:" \
	       "apt-get install clang libclang-rt-14-dev" >&2; exit 1; }

fuzz-build: $(FUZZ_BINS)

# One translation unit per target: it #includes the module .c files.
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c | fuzz-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LDLIBS)

# Runs one target: fresh copy of the seeds merged into the working corpus.
# $(1) = name.
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/corpus/$(1) $(FUZZ_DIR)/crashes
	@if [ -d tests/fuzz/corpus/$(1) ]; then \
	  cp -R tests/fuzz/corpus/$(1)/. $(FUZZ_DIR)/corpus/$(1)/; fi
	@echo "fuzz: $(1) for $(FUZZ_SECONDS)s (log: $(FUZZ_DIR)/$(1).log)"
	@ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	 UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} \
	 $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=$(FUZZ_MAXLEN_$(1)) -timeout=10 -print_final_stats=1 \
	  $(if $(wildcard tests/fuzz/$(1).dict),-dict=tests/fuzz/$(1).dict) \
	  -artifact_prefix=$(FUZZ_DIR)/crashes/$(1)- $(FUZZ_FLAGS) \
	  $(FUZZ_DIR)/corpus/$(1) >$(FUZZ_DIR)/$(1).log 2>&1; \
	 rc=$$?; \
	 sed -n 's/^#\([0-9]*\)[[:space:]]*DONE[[:space:]]*\(cov: [0-9]*\).*\(corp: [^ ]*\).*/fuzz: $(1): \1 runs, \2, \3/p' \
	   $(FUZZ_DIR)/$(1).log; \
	 if [ $$rc -ne 0 ]; then \
	   echo "fuzz: $(1) FAILED (exit $$rc); the end of its log:" >&2; \
	   grep -v '^#' $(FUZZ_DIR)/$(1).log | tail -n 40 >&2; \
	   ls $(FUZZ_DIR)/crashes/$(1)-* 2>/dev/null | sed 's/^/  input: /' >&2; \
	   exit 1; \
	 fi
endef

$(foreach t,$(FUZZ_TARGETS),$(eval fuzz-$(t): $(FUZZ_DIR)/fuzz_$(t) ; $$(call fuzz_run,$(t))))

# Every target runs even if an earlier one failed; then the verdict.
fuzz: $(FUZZ_BINS)
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  $(MAKE) --no-print-directory fuzz-$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed" >&2; exit 1; fi; \
	echo "fuzz: all targets ran $(FUZZ_SECONDS)s without a finding"

# Every seed once, no mutation: catches a regression in seconds.
fuzz-replay: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_DIR)/crashes
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_DIR)/fuzz_$$t -runs=0 \
	    -artifact_prefix=$(FUZZ_DIR)/crashes/$$t- tests/fuzz/corpus/$$t \
	    >$(FUZZ_DIR)/$$t-replay.log 2>&1 || { \
	    echo "fuzz-replay: $$t FAILED:" >&2; \
	    tail -n 40 $(FUZZ_DIR)/$$t-replay.log >&2; exit 1; }; \
	  echo "fuzz-replay: $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) seeds ok"; \
	done

fuzz-ci: fuzz-replay
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

-include $(FUZZ_BINS:=.d)
