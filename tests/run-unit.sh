#!/bin/sh
# run-unit.sh - runs each cmocka unit test binary given as an argument and
# prints one summary line; exits 1 if any failed.
set -u
pass=0 fail=0 failed=""
for t in "$@"; do
	if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $t"; fi
done
echo "unit test programs: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed"; exit 1; }
