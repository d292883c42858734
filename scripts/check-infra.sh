#!/usr/bin/env bash
# Static checks of the AWS infrastructure code (template.yaml, events/):
#   1. cfn-lint template.yaml                      (no errors, no warnings)
#   2. sam validate --lint                         (SAM transform + cfn-lint)
#   3. checkov on template.yaml and the CI workflow (no failed check; every skip is justified in the template)
#   4. every events/*.json parses, and so does every SQS message body in it (with a matching md5OfBody)
#   5. infra/azure (Terraform, azurerm) and infra/gcp (Terraform, google): terraform fmt -check (when
#      terraform is installed), every .tf parses (python-hcl2), checkov with no failed check (every
#      skip is justified inline). No provider schema validation: `terraform init` cannot fetch the
#      azurerm or google provider here (no registry access), so `terraform validate` is not run.
#
#   scripts/check-infra.sh            # run all checks (creates the venvs on first use)
#   scripts/check-infra.sh --setup    # only create/refresh the venvs
#
# Nothing here talks to AWS: the SAM CLI and the AWS SDK get a fixed region, dummy credentials and
# no instance metadata lookups. `sam build` is NOT run here: it needs the Lambda crates under functions/
# and cargo-lambda (scripts/build-lambdas.sh).
#
# Tools live in two venvs under the repo root (git-ignored), created once and reused:
#   ${COSTKIT_INFRA_VENV:-.venv-infra}     aws-sam-cli + cfn-lint
#   ${COSTKIT_CHECKOV_VENV:-.venv-checkov} checkov, alone: it pins its own boto3/botocore range, which
#                                           conflicts with the SAM CLI's.
set -euo pipefail

SAM_CLI_VERSION="1.170.0"
CFN_LINT_VERSION="1.58.0"
CHECKOV_VERSION="3.3.30"
HCL2_VERSION="8.1.4"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

abs() { case "$1" in /*) echo "$1" ;; *) echo "$repo_root/$1" ;; esac; }
infra_venv="$(abs "${COSTKIT_INFRA_VENV:-.venv-infra}")"
checkov_venv="$(abs "${COSTKIT_CHECKOV_VENV:-.venv-checkov}")"

find_python() {
    # An explicit choice wins; then python3.12 (what CI and the FOCUS validator use); then any pyenv 3.12;
    # then python3 if it is at least 3.10 (all three tools support 3.10-3.13).
    local cands=()
    [ -n "${COSTKIT_PYTHON:-}" ] && cands+=("$COSTKIT_PYTHON")
    cands+=(python3.12)
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    for p in "$root"/versions/3.12*/bin/python3.12; do [ -x "$p" ] && cands+=("$p"); done
    cands+=(python3)
    for c in "${cands[@]}"; do
        if "$c" -c 'import sys; assert (3, 10) <= sys.version_info < (3, 14)' >/dev/null 2>&1; then
            echo "$c"; return 0
        fi
    done
    return 1
}

# make_venv DIR STAMP PACKAGES... : (re)creates DIR with PACKAGES unless STAMP says it is current.
make_venv() {
    local dir="$1" stamp="$2"; shift 2
    if [ -f "$dir/$stamp" ] && [ -x "$dir/bin/python" ]; then
        return 0
    fi
    local py
    if ! py="$(find_python)"; then
        echo "error: no Python 3.10-3.13 found; install one (e.g. 'pyenv install 3.12') or set COSTKIT_PYTHON." >&2
        exit 2
    fi
    echo "setting up $dir with $py ($*)" >&2
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
    touch "$dir/$stamp"
}

setup() {
    # The two installs are independent and mostly wait on downloads and the resolver: run them together.
    make_venv "$infra_venv" ".costkit-installed-sam-$SAM_CLI_VERSION-cfnlint-$CFN_LINT_VERSION" \
        "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION" &
    local infra_pid=$!
    make_venv "$checkov_venv" ".costkit-installed-checkov-$CHECKOV_VERSION-hcl2-$HCL2_VERSION" \
        "checkov==$CHECKOV_VERSION" "python-hcl2==$HCL2_VERSION" &
    local checkov_pid=$!
    local ok=0
    wait "$infra_pid" || ok=1
    wait "$checkov_pid" || ok=1
    if [ "$ok" -ne 0 ]; then
        echo "error: setting up the infra tool venvs failed (see pip output above)" >&2
        exit 2
    fi
}

if [ "${1:-}" = "--setup" ]; then
    setup
    exit 0
fi

setup

# No AWS access: fixed region, dummy credentials, no EC2/ECS metadata probing, no telemetry.
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN

status=0
run() {
    local name="$1"; shift
    local t0=$SECONDS
    printf -- '--> %s\n' "$name"
    if "$@"; then
        printf -- '    ok: %s (%ss)\n' "$name" "$((SECONDS - t0))"
    else
        printf -- '    FAILED: %s (%ss)\n' "$name" "$((SECONDS - t0))"
        status=1
    fi
}

run "cfn-lint template.yaml" "$infra_venv/bin/cfn-lint" template.yaml
run "sam validate --lint" "$infra_venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml
run "checkov (cloudformation)" "$checkov_venv/bin/checkov" -f template.yaml --framework cloudformation \
    --quiet --compact --skip-download
run "checkov (github_actions)" "$checkov_venv/bin/checkov" -f .github/workflows/ci.yml --framework github_actions \
    --quiet --compact --skip-download
run "events/*.json are valid JSON" "$infra_venv/bin/python" - <<'EOF'
import hashlib, json, pathlib, sys

bad = 0
files = sorted(pathlib.Path("events").glob("*.json"))
if not files:
    print("    no events/*.json found", file=sys.stderr)
    sys.exit(1)
for path in files:
    try:
        event = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        print(f"    {path}:{err.lineno}:{err.colno}: {err.msg}", file=sys.stderr)
        bad += 1
        continue
    # SQS bodies are JSON documents themselves (the messages between the functions).
    for i, record in enumerate(event.get("Records", []) if isinstance(event, dict) else []):
        if record.get("eventSource") == "aws:sqs":
            try:
                json.loads(record["body"])
            except (KeyError, json.JSONDecodeError) as err:
                print(f"    {path}: Records[{i}].body is not JSON: {err}", file=sys.stderr)
                bad += 1
                continue
            # SQS sets md5OfBody to the MD5 of the body; a hand-edited body must keep them in step.
            md5 = hashlib.md5(record["body"].encode()).hexdigest()
            if record.get("md5OfBody") != md5:
                print(f"    {path}: Records[{i}].md5OfBody is not the body's MD5 ({md5})", file=sys.stderr)
                bad += 1
print(f"    {len(files)} event files checked")
sys.exit(1 if bad else 0)
EOF

for tf_root in infra/azure infra/gcp; do
    run "checkov (terraform: $tf_root)" "$checkov_venv/bin/checkov" -d "$tf_root" --framework terraform \
        --quiet --compact --skip-download
    run "$tf_root/*.tf parse (python-hcl2)" "$checkov_venv/bin/python" -c '
import glob, sys, hcl2
files = sorted(glob.glob(sys.argv[1] + "/*.tf"))
for f in files:
    with open(f) as fh:
        hcl2.load(fh)
print(f"    {len(files)} files parsed")
sys.exit(0 if files else 1)' "$tf_root"
done
if command -v terraform >/dev/null 2>&1; then
    # fmt needs no provider: an empty CLI config keeps terraform from looking for one.
    tfrc="$(mktemp)"
    run "terraform fmt -check infra/azure infra/gcp" env TF_CLI_CONFIG_FILE="$tfrc" terraform fmt -check -recursive infra
    rm -f "$tfrc"
else
    echo "--> terraform fmt: terraform is not installed here; fmt is checked where it is (checkov and hcl2 ran)"
fi

if [ "$status" -ne 0 ]; then
    echo "infra checks FAILED" >&2
fi
exit "$status"
