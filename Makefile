# opsbot - Makefile. `make` builds build/opsbot, `make test` runs every test,
# `make run` starts the daemon, `make test SANITIZE=1` runs the suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (in build/san/).

VERSION := 0.1.0
PKGS    := libcurl libcjson libconfig sqlite3 libsystemd libmicrohttpd
CC      ?= cc
PYTHON  ?= python3

# Install missing -dev packages before anything else (fresh machines).
ifeq ($(shell pkg-config --exists $(PKGS) cmocka 2>/dev/null && echo ok),)
DEPS_RC := $(shell sh contrib/install-deps.sh 1>&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error build dependencies are missing, see above)
endif
endif

ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     ?= -O1 -g
export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
else
BUILD   ?= build
SANFLAGS :=
OPT     ?= -O2 -g
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla -Wundef -Wcast-align \
           -Wno-unused-parameter -Wno-format-truncation
# (-Wno-format-truncation: cutting a message to its bounded buffer is the
# intent everywhere we snprintf.)
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -DOPSBOT_VERSION='"$(VERSION)"' $(OPT) $(WARN) \
           $(SANFLAGS) -I. -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# The Telegram HTML validator (alerts/tgvalidate.c) ships in the daemon:
# check-config renders every template with sample alerts and validates the
# result, and a template that renders invalid HTML falls back to the
# built-in layout at run time.
SRCS    := $(wildcard bot/*.c alerts/*.c commands/*.c)
OBJS    := $(SRCS:%.c=$(BUILD)/obj/%.o)
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all test layers unit emulator-selftest integration valgrind run bench clean
all: $(BUILD)/opsbot

$(BUILD)/opsbot: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# A unit test is one translation unit: it #includes the unit(s) it tests
# and wraps or fakes their collaborators.
$(BUILD)/tests/%: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS) $(TESTLIBS)

unit: $(UNITS)
	@sh tests/run-unit.sh $(UNITS)
	@sh tests/unit/check_metrics.sh $(BUILD)/tests/test_metrics

# The integration tests also run the real Alertmanager and Prometheus
# (Debian packages): installed like the build dependencies when missing.
# Without them those tests skip, saying why (in CI they fail instead).
PEER_BINS := /usr/bin/prometheus-alertmanager /usr/bin/prometheus
.PHONY: integration-peers
integration-peers:
	@for b in $(PEER_BINS); do [ -x $$b ] || \
		{ sh contrib/install-deps.sh || true; break; }; done

integration: $(BUILD)/opsbot integration-peers
	@OPSBOT=$(BUILD)/opsbot OPSBOT_SANITIZED=$(SANITIZE) \
		$(PYTHON) tests/integration/run.py

# One integration run with the daemon under valgrind memcheck: zero errors
# and zero definite leaks, or the tests fail (harness.py reads the logs).
VALGRIND_TESTS := test_intake.test_malformed test_intake.test_cli_send \
	test_delivery.test_resolved test_delivery.test_5xx \
	test_delivery.test_chat_not_found test_commands.test_commands_registered \
	test_commands.test_ack test_faults.test_sighup \
	test_http.test_grafana test_http.test_bad_input \
	test_metrics.test_figures
comma := ,
empty :=
space := $(empty) $(empty)
valgrind: $(BUILD)/opsbot
	@OPSBOT=$(BUILD)/opsbot OPSBOT_WRAPPER="valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite" \
		$(PYTHON) tests/integration/run.py -j 2 \
		$(subst $(space),$(comma),$(strip $(VALGRIND_TESTS)))

emulator-selftest:
	@$(PYTHON) -m unittest -q tests/emulator/test_tgemu.py

# Leaves include no glue; one include style (docs/ARCHITECTURE.md).
layers:
	@sh tests/check_layers.sh

test: layers unit emulator-selftest integration

run: $(BUILD)/opsbot
	@sh contrib/run.sh $(BUILD)/opsbot

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

# Prints figures (docs/BENCHMARKS.md); not a test. BENCH=ingest,latency,...
# picks parts; IDLE_SECONDS sets the idle CPU window (default 60).
bench: $(BUILD)/opsbot $(BUILD)/bench/ingest $(BUILD)/bench/fsync
	@OPSBOT=$(BUILD)/opsbot BENCHBIN=$(BUILD)/bench $(PYTHON) bench/run.py

clean:
	rm -rf build

# Fuzz targets (make fuzz) and installation (make install) live in their
# own fragments.
include tests/fuzz/fuzz.mk
include contrib/install.mk

-include $(OBJS:.o=.d) $(UNITS:=.d)
