#!/usr/bin/env bash
# The report's "real reader" checks: headless Chromium renders the HTML report (as a file and as
# served) and the dashboard (screenshots, SVG charts present, no console errors, a scripted click
# on a filter changes the totals), and openpyxl opens the XLSX (its totals equal the JSON report's,
# which equal the store's). Run by scripts/test.sh; runnable alone.
#
# Needs Debian's chromium and chromium-driver (installed here when missing and running as root
# with apt-get; otherwise this fails, it never skips) and a Python venv with pinned selenium and
# openpyxl (.venv-report/, created on first use). Output: ${COSTKIT_REPORT_CHECK_DIR:-target/report-check}/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${COSTKIT_REPORT_CHECK_DIR:-target/report-check}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "report checks: installing chromium and chromium-driver (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "report checks: chromium and chromium-driver are required (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
fi

venv=.venv-report
if ! "$venv/bin/python" -c 'import selenium, openpyxl' 2>/dev/null; then
  echo "report checks: creating $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'selenium==4.51.0' 'openpyxl==3.1.5'
fi
# Selenium must use Debian's driver, never download one.
export SE_OFFLINE=true

rm -rf "$OUT"
mkdir -p "$OUT"

# The HTML, XLSX and JSON reports of the samples, with the store's own sums (written by a test).
COSTKIT_REPORT_OUT="$OUT" cargo test -q --locked -p costkit-http --test report_formats \
  write_reports_for_external_checks >/dev/null
"$venv/bin/python" scripts/check-report-xlsx.py "$OUT"

# The same reports and the dashboard, served by `costkit serve` over a store loaded from samples.
cargo build -q --locked -p costkit-cli
bin="${CARGO_TARGET_DIR:-target}/debug/costkit"
store="$OUT/costkit.db"
"$bin" load --store "$store" \
  tests/fixtures/cli/focus12_two_months.csv \
  samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv \
  samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv >/dev/null 2>&1
COSTKIT_SIGNING_KEY="$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(32))')"
export COSTKIT_SIGNING_KEY
"$bin" serve --store "$store" --port 0 --budgets docs/budgets.example.yaml --tag team \
  >"$OUT/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 200); do
  addr="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$OUT/serve.log" | head -n1 || true)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$OUT/serve.log" >&2; echo "costkit serve did not start" >&2; exit 1; }
report_link="$("$bin" key sign /reports/2024-09.html --expires-in 1h --base-url "$addr")"
dashboard_link="$("$bin" key sign /dashboard --expires-in 1h --base-url "$addr")"

"$venv/bin/python" scripts/report-browser-check.py "$OUT" \
  "file://$OUT/report.html" "$report_link" -- "$dashboard_link"
echo "report checks: screenshots in $OUT"
