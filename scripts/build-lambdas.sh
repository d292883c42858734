#!/usr/bin/env bash
# Builds the Lambda functions with `sam build` (cargo-lambda, arm64, provided.al2023).
#
#   scripts/build-lambdas.sh           # sam build into .aws-sam/build
#   scripts/build-lambdas.sh --setup   # only install the tools
#
# Separate from scripts/check-infra.sh because it needs the function crates under functions/
# (IngestFunction -> functions/ingest, ... see template.yaml) and compiles all of them. The SAM CLI
# comes from the infra venv (scripts/check-infra.sh --setup); cargo-lambda and the Zig linker it uses
# to cross-compile for aarch64 come from PyPI into ${COSTKIT_LAMBDA_VENV:-.venv-lambda}.
set -euo pipefail

CARGO_LAMBDA_VERSION="1.9.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
lambda_venv="${COSTKIT_LAMBDA_VENV:-.venv-lambda}"
case "$lambda_venv" in /*) ;; *) lambda_venv="$repo_root/$lambda_venv" ;; esac
infra_venv="${COSTKIT_INFRA_VENV:-.venv-infra}"
case "$infra_venv" in /*) ;; *) infra_venv="$repo_root/$infra_venv" ;; esac

scripts/check-infra.sh --setup
stamp="$lambda_venv/.costkit-installed-cargo-lambda-$CARGO_LAMBDA_VERSION"
if [ ! -f "$stamp" ] || [ ! -x "$lambda_venv/bin/cargo-lambda" ]; then
    echo "setting up $lambda_venv (cargo-lambda==$CARGO_LAMBDA_VERSION; it pulls in ziglang)" >&2
    rm -rf "$lambda_venv"
    "$infra_venv/bin/python" -m venv "$lambda_venv"
    "$lambda_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cargo-lambda==$CARGO_LAMBDA_VERSION" >&2
    touch "$stamp"
fi
[ "${1:-}" = "--setup" ] && exit 0

missing=()
for dir in $(sed -n 's/^ *CodeUri: *//p' template.yaml); do
    [ -f "$dir/Cargo.toml" ] || missing+=("$dir")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "error: function crates missing: ${missing[*]} (template.yaml CodeUri); nothing to build yet." >&2
    exit 2
fi

rustup target add aarch64-unknown-linux-gnu >/dev/null
export PATH="$lambda_venv/bin:$PATH"   # cargo-lambda and python-zig for `cargo lambda build`
# shellcheck source=lib/lambda-profile.sh
source scripts/lib/lambda-profile.sh
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
cargo lambda --version
# One cargo invocation for every function first: cargo links the six binaries (each a single-threaded
# fat-LTO link) side by side. `sam build` then runs cargo-lambda once per function, finds every
# binary fresh, and only copies them to .aws-sam/build.
packages=()
for dir in $(sed -n 's/^ *CodeUri: *//p' template.yaml); do
    packages+=(-p "$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n 1)")
done
cargo lambda build --release --arm64 "${packages[@]}"
"$infra_venv/bin/sam" build --template-file template.yaml

# Size budget: every function at most 15 MB (arm64, stripped).
limit=$((15 * 1000 * 1000))
over=0
for bin in .aws-sam/build/*/bootstrap; do
    size=$(stat -c %s "$bin")
    awk -v n="$(basename "$(dirname "$bin")")" -v s="$size" 'BEGIN { printf "%-28s %6.1f MB\n", n, s / 1e6 }'
    if [ "$size" -gt "$limit" ]; then
        echo "error: $bin is $size bytes, over the 15 MB budget" >&2
        over=1
    fi
done
exit "$over"
