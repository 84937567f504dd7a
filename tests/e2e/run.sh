#!/usr/bin/env bash
# End-to-end tests: drive the built `loraplex` binary as a user would.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/$BUILD_DIR/loraplex"
pass=0; fail=0
check() {  # check NAME CMD...
  local name=$1; shift
  if "$@" >/tmp/lpx-e2e.out 2>&1; then pass=$((pass+1)); echo "ok   $name"
  else fail=$((fail+1)); echo "FAIL $name"; sed 's/^/     /' /tmp/lpx-e2e.out | tail -20; fi
}
check "version runs" "$BIN" version
check "help runs" "$BIN" --help
check "unknown command fails" bash -c "! '$BIN' no-such-command"
echo "e2e: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
