#!/usr/bin/env bash
# Runs every check and test. This is the command the README names and CI runs.
# Set-up is included: the Rust toolchain comes from rust-toolchain.toml via rustup, and the
# FOCUS validator's Python venv is created on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
cargo --version

# The infrastructure checks need only Python venvs (cfn-lint, SAM CLI, checkov): start them now so
# their set-up on a fresh machine overlaps the Rust build; their result is collected at the end.
mkdir -p target
# Its own session, so an early exit can stop it with every pip it started.
setsid scripts/check-infra.sh >target/check-infra.log 2>&1 &
INFRA_PID=$!
MOTO_STARTED=""
SINKS_STARTED=""
AZURITE_STARTED=""
GCP_EMU_STARTED=""
cleanup() {
  if [ -n "$MOTO_STARTED" ]; then scripts/moto.sh stop || true; fi
  if [ -n "$SINKS_STARTED" ]; then scripts/notify-sinks.sh stop || true; fi
  if [ -n "$AZURITE_STARTED" ]; then scripts/azurite.sh stop || true; fi
  if [ -n "$GCP_EMU_STARTED" ]; then scripts/gcp-emulators.sh stop || true; fi
  kill -- "-$INFRA_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Headless Chromium for the report and dashboard checks (Debian packages; about 20 s once).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  step "installing chromium and chromium-driver"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "core dependency check (cargo tree)"
scripts/check-core-deps.sh

step "moto server (AWS emulator for adapters/aws)"
# Loopback only, dummy credentials, no metadata-service probes. The server is stopped by its PID
# when this script exits, failed or not. The AWS tests fail (never skip) without it.
export AWS_EC2_METADATA_DISABLED=true
scripts/moto.sh start
MOTO_STARTED=1
eval "$(scripts/moto.sh env)"

step "SMTP server and Adaptive Card schema (notification channel tests)"
# aiosmtpd on a free loopback port, stopped by its PID on exit; the channel tests fail (never
# skip) without it.
scripts/notify-sinks.sh start
SINKS_STARTED=1
eval "$(scripts/notify-sinks.sh env)"

step "Azurite (Azure Storage emulator for adapters/azure and the Azure handler)"
# npm azurite@3 in a cache dir outside the repo, loopback only, in memory, stopped by its PID on
# exit. The Azure tests fail (never skip) without it.
scripts/azurite.sh start
AZURITE_STARTED=1
eval "$(scripts/azurite.sh env)"

step "Google Cloud emulators (Firestore, Pub/Sub, GCS, BigQuery for adapters/gcp)"
# google-cloud-cli's Firestore and Pub/Sub emulators, PyPI cloudbox (GCS) and bqemulator
# (BigQuery) from a cache dir outside the repo, loopback only, in memory, stopped by their PIDs on
# exit. The GCP tests fail (never skip) without them.
scripts/gcp-emulators.sh start
GCP_EMU_STARTED=1
eval "$(scripts/gcp-emulators.sh env)"

step "cargo test"
cargo test --workspace --locked 2>&1 | tee target/test-output.txt

step "report checks: headless Chromium (HTML report, dashboard) and openpyxl (XLSX)"
scripts/report-browser-tests.sh

step "FOCUS validator on the output of every sample"
scripts/validate-samples.sh

step "infrastructure checks (cfn-lint, sam validate, checkov, events)"
if ! wait "$INFRA_PID"; then
  cat target/check-infra.log
  echo "infrastructure checks failed (log above)" >&2
  exit 1
fi
cat target/check-infra.log

step "Lambda builds: sam build (cargo lambda build --release --arm64), 15 MB size budget"
# After the infrastructure checks: it reuses their SAM CLI venv. Cross-compiles every function for
# arm64 with cargo-lambda and Zig from PyPI (scripts/build-lambdas.sh).
scripts/build-lambdas.sh

# One closing line for CI readers: totals over every cargo test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
