#!/bin/sh
# check_metrics.sh - checks opsbot's Prometheus side with the real promtool:
# the /metrics text of a mixed run (rendered by `test_metrics --dump`)
# passes `promtool check metrics` without a single complaint, the alerting
# rules pass `promtool check rules`, and their unit tests pass `promtool
# test rules`. Usage: check_metrics.sh path/to/test_metrics (from the
# repository root). Exits 1 on any failure.
set -u
bin=${1:?usage: check_metrics.sh path/to/test_metrics}
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
	echo "check_metrics: promtool not found (Debian: apt-get install prometheus)" >&2
	exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

if ! "$bin" --dump "$tmp/metrics.txt"; then
	echo "check_metrics: $bin --dump failed" >&2
	exit 1
fi
# promtool prints lint problems and exits non-zero; any output at all is
# a complaint too (older versions exit 0 after printing).
if ! "$promtool" check metrics <"$tmp/metrics.txt" >"$tmp/out" 2>&1 ||
   [ -s "$tmp/out" ]; then
	echo "check_metrics: promtool check metrics complains:" >&2
	cat "$tmp/out" >&2
	fail=1
fi
if ! "$promtool" check rules contrib/opsbot.rules.yml >"$tmp/out" 2>&1; then
	cat "$tmp/out" >&2
	fail=1
fi
if ! "$promtool" test rules tests/promtool/opsbot.rules.test.yml >"$tmp/out" 2>&1; then
	cat "$tmp/out" >&2
	fail=1
fi
if [ "$fail" -eq 0 ]; then
	echo "promtool: metrics, rules and rule tests pass"
fi
exit "$fail"
