#!/usr/bin/env bash
# Checks that no file under src/ includes a header from a layer above its own.
# The order is the `layers:` line of docs/architecture.md (bottom first; `<` separates ranks,
# `=` joins independent layers of one rank, which may not include each other). A file may include
# its own layer and any layer of a lower rank. Also: only src/apps reads the environment.
# Prints each offending line and exits 1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOC="$ROOT/docs/architecture.md"
line=$(grep -m1 -E '^layers: ' "$DOC" || true)
if [[ -z "$line" ]]; then
  echo "check-layers: no 'layers: ...' line in $DOC" >&2
  exit 2
fi
declare -A rank
r=0
IFS='<' read -ra ranks <<<"${line#layers: }"
for group in "${ranks[@]}"; do
  IFS='=' read -ra names <<<"$group"
  for n in "${names[@]}"; do
    n=$(echo "$n" | tr -d '[:space:]')
    [[ -n "$n" ]] && rank[$n]=$r
  done
  r=$((r + 1))
done

bad=0
for dir in "$ROOT"/src/*/; do
  layer=$(basename "$dir")
  if [[ -z "${rank[$layer]+x}" ]]; then
    echo "check-layers: src/$layer/ is not in the layers line of docs/architecture.md" >&2
    bad=1
    continue
  fi
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    lineno=${rest%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${rest#*:}")
    target=${inc%%/*}
    [[ "$inc" == */* ]] || continue           # same-folder include without a layer prefix
    [[ "$target" == "$layer" ]] && continue
    if [[ -z "${rank[$target]+x}" ]]; then
      echo "${file#$ROOT/}:$lineno: includes \"$inc\": '$target' is not a known layer" >&2
      bad=1
    elif (( rank[$target] >= rank[$layer] )); then
      echo "${file#$ROOT/}:$lineno: includes \"$inc\": layer '$layer' may not depend on '$target' (docs/architecture.md layer order)" >&2
      bad=1
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$dir" || true)
done
# Configuration is read once, in src/apps: no other layer reads the environment.
while IFS= read -r hit; do
  echo "${hit#$ROOT/}: reads the environment outside src/apps (read it in apps/env_config and pass it down)" >&2
  bad=1
done < <(grep -rnE '\b(std::)?(secure_)?getenv[[:space:]]*\(' "$ROOT/src" | grep -v "^$ROOT/src/apps/" || true)

if (( bad )); then
  echo "check-layers: FAILED" >&2
  exit 1
fi
echo "check-layers: ok (${#rank[@]} layers)"
