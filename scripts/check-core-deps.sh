#!/usr/bin/env bash
# The core crate must stay pure: no cloud SDK, no HTTP client or framework, no async runtime among its
# normal (non-dev) dependencies. This lists its dependency tree and fails on any forbidden crate.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p costkit-core -e normal --prefix none --no-dedupe | awk '{print $1}' | sort -u)
forbidden='^(aws-.*|aws_.*|azure_.*|google-.*|gcp_.*|tokio|tokio-.*|async-std|smol|futures-executor|hyper|hyper-.*|reqwest|ureq|isahc|surf|http|axum|actix-.*|warp|tower|tower-.*|lambda_runtime|lambda_http|aws_lambda_events)$'
bad=$(echo "$tree" | grep -E "$forbidden" || true)
count=$(echo "$tree" | wc -l)
if [ -n "$bad" ]; then
  echo "costkit-core must not depend on these crates:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "core dependency check: $count crates in costkit-core's normal dependency tree, none forbidden"
