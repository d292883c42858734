#!/usr/bin/env bash
# Normalizes every bundled sample and fixture (every dialect) with the costkit CLI and runs the
# official FOCUS validator on each output, gating on Mandatory-column rules (allowlist:
# docs/validator-known-failures.tsv). Part of scripts/test.sh.
#
#   scripts/validate-samples.sh [OUT_DIR]     (default: target/focus-validation)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/focus-validation}
rm -rf "$out"
mkdir -p "$out"

cargo build -q -p costkit-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
costkit="$target_dir/debug/costkit"

# convert NAME FILE... : one FOCUS Parquet output per input group.
convert() {
  local name=$1; shift
  "$costkit" normalize "$@" -o "$out/$name.parquet" 2>"$out/$name.log" || {
    echo "normalize failed for $name:" >&2; cat "$out/$name.log" >&2; exit 1; }
}

# AWS
convert aws_cur_legacy_anonymous samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv
convert aws_cur_legacy_generated tests/fixtures/aws/cur_legacy_3000.csv.gz
convert aws_cur2_generated tests/fixtures/aws/cur2_3000.csv.gz
for f in sp_negation ri_sp_fees refund_credit_tax; do convert "aws_cur_$f" "tests/fixtures/aws/$f.csv"; done
for f in ungrouped-daily service-account-3days-2pages tag-team-daily record-type-monthly usage-type-region; do
  convert "aws_ce_$f" "tests/fixtures/aws-ce/$f.json"
done
# Azure
convert azure_ea_actual_amortized_joined samples/azure/ea-actual/finops-toolkit_EA_ActualCost_Small.csv \
  samples/azure/ea-amortized/finops-toolkit_EA_AmortizedCost_Small.csv
convert azure_ea_generic_cad samples/azure/ea-export-generic/focus-converters_sample-anonymous-ea-export-dataset.csv
convert azure_ea_twin_joined tests/fixtures/azure/ea-twin_ActualCost.csv tests/fixtures/azure/ea-twin_AmortizedCost.csv
convert azure_mca_actual tests/fixtures/azure/mca_ActualCost.csv
# Google Cloud
convert gcp_standard tests/fixtures/gcp/standard.ndjson
convert gcp_detailed tests/fixtures/gcp/detailed.ndjson
# FOCUS inputs
convert FOCUS-Sample-Data_focus_sample_1000 samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv
for f in samples/focus/spec-1.2-examples/*.csv tests/fixtures/focus/a*.csv; do
  convert "$(basename "${f%.csv}")" "$f"
done
# One CSV output as well, so the CSV writer is validated too.
"$costkit" normalize tests/fixtures/aws/cur_legacy_3000.csv.gz -o "$out/aws_cur_legacy_generated.csv" 2>/dev/null

scripts/focus-validator.sh --setup >/dev/null
python3 scripts/validate-outputs.py "$out"
