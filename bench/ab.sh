#!/usr/bin/env bash
# A/B comparison of two loraplex binaries on the headline figures, as interleaved pairs (the
# machine's bandwidth drifts over minutes, so only figures taken side by side are compared).
#   bench/ab.sh OLD_BINARY NEW_BINARY [PAIRS] [CACHE_DIR]
# Each pair runs every case with both binaries back to back (the order alternates between pairs)
# and prints NEW/OLD per figure; the last table gives each ratio's median over the pairs.
set -euo pipefail
A=${1:?usage: bench/ab.sh OLD_BINARY NEW_BINARY [PAIRS] [CACHE_DIR]}
B=${2:?usage: bench/ab.sh OLD_BINARY NEW_BINARY [PAIRS] [CACHE_DIR]}
PAIRS=${3:-3}
CACHE=${4:-build/synthetic}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cases=(
  "smollm2-bf16|--synthetic smollm2-135m --prompt-tokens 256 --decode-tokens 64"
  "tinyllama-bf16|--synthetic tinyllama-1.1b --prompt-tokens 512 --decode-tokens 48"
  "tinyllama-q8|--synthetic tinyllama-1.1b --prompt-tokens 512 --decode-tokens 48 --dtype q8"
  "tinyllama-b16-lora16|--synthetic tinyllama-1.1b --prompt-tokens 16 --decode-tokens 24 --batch 16 --adapters 16 --lora-rank 16"
)
run() {  # run BIN TAG CASE_ARGS...
  local bin=$1 tag=$2
  shift 2
  "$bin" --log-level warn bench --cache-dir "$CACHE" --skip-bandwidth --reps 1 "$@" --json-out "$OUT/$tag.json" >/dev/null
}
for ((p = 1; p <= PAIRS; p++)); do
  for c in "${cases[@]}"; do
    name=${c%%|*}
    read -ra args <<<"${c#*|}"
    if ((p % 2)); then
      run "$A" "$name-$p-old" "${args[@]}"; run "$B" "$name-$p-new" "${args[@]}"
    else
      run "$B" "$name-$p-new" "${args[@]}"; run "$A" "$name-$p-old" "${args[@]}"
    fi
  done
done
node - "$OUT" "$PAIRS" "${cases[@]%%|*}" <<'JS'
const fs = require('fs');
const [dir, pairs, ...names] = process.argv.slice(2);
const figs = ['prefill_gflops', 'decode_tokens_per_s'];
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
console.log('| case | figure | old (median) | new (median) | new/old per pair | median ratio |');
console.log('|---|---|---|---|---|---|');
for (const n of names) for (const f of figs) {
  const olds = [], news = [], ratios = [];
  for (let p = 1; p <= Number(pairs); p++) {
    const o = JSON.parse(fs.readFileSync(`${dir}/${n}-${p}-old.json`))[f];
    const w = JSON.parse(fs.readFileSync(`${dir}/${n}-${p}-new.json`))[f];
    if (!(o > 0) || !(w > 0)) continue;
    olds.push(o); news.push(w); ratios.push(w / o);
  }
  if (!ratios.length) continue;
  console.log(`| ${n} | ${f} | ${med(olds).toFixed(2)} | ${med(news).toFixed(2)} | ${ratios.map((r) => r.toFixed(3)).join(' ')} | ${med(ratios).toFixed(3)} |`);
}
JS
