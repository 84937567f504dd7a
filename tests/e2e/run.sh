#!/usr/bin/env bash
# End-to-end tests: install the test tooling (npm) and drive the built binary with node's test runner.
set -euo pipefail
BUILD_DIR=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
if [[ ! -d node_modules/tokenizers || ! -d node_modules/openai ]]; then
  npm install --no-audit --no-fund --loglevel=error
fi
export LPX_BUILD_DIR="$BUILD_DIR"
node --test --test-concurrency=1 ./*.test.mjs
