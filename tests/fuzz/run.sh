#!/usr/bin/env bash
# Bounded fuzzing run of the safetensors parsers: tests/fuzz/run.sh FUZZER [SECONDS=180]
# Starts from tests/fuzz/corpus (+ regressions), writes new corpus entries to a scratch directory and
# any crashing input to tests/fuzz/regressions/ (add it to git: the unit tests replay that folder).
set -euo pipefail
fuzzer="$1"
seconds="${2:-180}"
here="$(cd "$(dirname "$0")" && pwd)"
# KEEP_CORPUS=DIR keeps the grown corpus in DIR (to pick new seeds for tests/fuzz/corpus).
if [ -n "${KEEP_CORPUS:-}" ]; then
  work="$KEEP_CORPUS"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
cp "$here"/corpus/* "$here"/regressions/* "$work"/ 2>/dev/null || true
"$fuzzer" "$work" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$here/regressions/" -print_final_stats=1
