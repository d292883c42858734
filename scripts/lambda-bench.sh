#!/usr/bin/env bash
# Lambda function benchmark, run by hand (never in CI): binary sizes of the arm64 release build
# (`cargo lambda build --release --arm64`, stripped) and cold start, warm latency and peak RSS of
# the same code built for this machine (x86_64; the arm64 binaries cannot run here), each function
# run against a local Lambda Runtime API (scripts/lambda-bench.py) and moto.
#
#   scripts/lambda-bench.sh [--invocations N]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/lambda-profile.sh
source scripts/lib/lambda-profile.sh
pkgs=(-p costkit-fn-ingest -p costkit-fn-normalize -p costkit-fn-budget-check -p costkit-fn-anomaly
      -p costkit-fn-notify -p costkit-fn-report)
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

if [ -d "$target_dir/lambda" ]; then
  echo "arm64 release binaries (cargo lambda build --release --arm64):"
  for f in "$target_dir"/lambda/*/bootstrap; do
    printf '  %-14s %6.1f MB\n' "$(basename "$(dirname "$f")")" "$(awk -v s="$(stat -c %s "$f")" 'BEGIN { print s / 1e6 }')"
  done
fi

cargo build --release "${pkgs[@]}"
scripts/moto.sh start
trap 'scripts/moto.sh stop' EXIT
eval "$(scripts/moto.sh env)"
.venv-moto/bin/python scripts/lambda-bench.py "$target_dir/release" "$COSTKIT_MOTO_ENDPOINT" "$@"
