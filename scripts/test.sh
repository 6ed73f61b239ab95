#!/usr/bin/env bash
# Runs every test suite: native core tests (cargo test), browser glue tests (wasm-bindgen-test in
# headless Chromium via chromedriver), then the built npm package end to end (node --test driving
# Chromium through playwright-core against the local backend; that includes the consumer projects
# of tests/e2e/consumers.test.mjs, whose Vitest and Jest runs count one test each of theirs, and
# tests/e2e/package.test.mjs), and the size budget check (scripts/size-check.mjs, one test per
# measured entry). Provisions what is missing first.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh || exit 1

LOG=$(mktemp -d)
status=0
run() { # name, command...
  local name=$1; shift
  printf '\n=== %s ===\n' "$name"
  "$@" 2>&1 | tee "$LOG/$name.log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { echo "*** $name failed (exit $rc)"; status=1; }
}

run native cargo test --locked -q -p resource-guard -p resource-guard-alloc
run browser-glue cargo test --locked --target wasm32-unknown-unknown -p resource-guard-wasm --test 'web_*'
run build node scripts/build.mjs --quiet
if [ -f pkg/index.js ]; then
  run size node scripts/size-check.mjs
  run e2e node --test --test-concurrency=1 tests/e2e/
fi

# One honest total over every runner (cargo's per-binary lines and node's summary).
passed=0; failed=0
for f in "$LOG"/native.log "$LOG"/browser-glue.log; do
  [ -f "$f" ] || continue
  while read -r p fl; do passed=$((passed + p)); failed=$((failed + fl)); done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$f")
done
if [ -f "$LOG/e2e.log" ]; then
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$LOG/e2e.log" | tail -1); fl=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$LOG/e2e.log" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${fl:-0}))
fi
if [ -f "$LOG/size.log" ]; then
  p=$(sed -n 's/^# size pass \([0-9]*\)$/\1/p' "$LOG/size.log"); fl=$(sed -n 's/^# size fail \([0-9]*\)$/\1/p' "$LOG/size.log")
  [ -n "$p$fl" ] || fl=1 # the check did not get to measure: count it as a failure
  passed=$((passed + ${p:-0})); failed=$((failed + ${fl:-0}))
fi
rm -rf "$LOG"
echo
[ "$status" = 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "all suites: $passed passed, $failed failed"
exit $status
