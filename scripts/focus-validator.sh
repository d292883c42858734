#!/usr/bin/env bash
# Runs the official FinOps Foundation FOCUS validator (PyPI `focus-validator`) offline on one file.
#
#   scripts/focus-validator.sh FILE [extra focus-validator options...]
#   scripts/focus-validator.sh --setup        # only create/refresh the venv, print its python
#
# The venv lives at ${COSTKIT_VENV_DIR:-.venv-validator} (relative to the repo root) and is created
# once; later runs reuse it. focus-validator 2.2.1 needs Python >= 3.12 and pyarrow < 22 (newer
# pyarrow wants numpy >= 2 while the validator pins numpy < 2). It opens
# `focus_validator/rules/currency_codes.csv` relative to the CURRENT DIRECTORY, so it is run from a
# scratch folder holding a `focus_validator` symlink to the installed package.
#
# Default options: --block-download --validate-version 1.2 --applicability-criteria ALL
# --output-type console --show-violations (later options override: pass e.g.
# `--output-type unittest --output-destination report.xml`).
set -euo pipefail

VALIDATOR_VERSION="2.2.1"
PYARROW_VERSION="21.0.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${COSTKIT_VENV_DIR:-.venv-validator}"
case "$venv" in /*) ;; *) venv="$repo_root/$venv" ;; esac

find_python() {
    # An explicit choice wins; then a python3.12 on PATH that actually runs (a pyenv shim exists
    # even when 3.12 is not the selected version); then any pyenv-installed 3.12.
    local cands=()
    [ -n "${COSTKIT_PYTHON:-}" ] && cands+=("$COSTKIT_PYTHON")
    cands+=(python3.12)
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    for p in "$root"/versions/3.12*/bin/python3.12; do [ -x "$p" ] && cands+=("$p"); done
    for c in "${cands[@]}"; do
        if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
            echo "$c"; return 0
        fi
    done
    return 1
}

setup_venv() {
    local stamp="$venv/.costkit-installed-$VALIDATOR_VERSION-$PYARROW_VERSION"
    if [ -f "$stamp" ] && [ -x "$venv/bin/focus-validator" ]; then
        return 0
    fi
    local py
    if ! py="$(find_python)"; then
        echo "error: focus-validator $VALIDATOR_VERSION needs Python >= 3.12 and none was found." >&2
        echo "       Install it (e.g. 'pyenv install 3.12') or set COSTKIT_PYTHON=/path/to/python3.12." >&2
        exit 2
    fi
    echo "setting up $venv with $py (focus-validator==$VALIDATOR_VERSION, pyarrow==$PYARROW_VERSION)" >&2
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "focus-validator==$VALIDATOR_VERSION" "pyarrow==$PYARROW_VERSION" >&2
    touch "$stamp"
}

# The folder to run from: it holds `focus_validator` -> the installed package directory.
run_dir() {
    local pkg
    pkg="$("$venv/bin/python" -c 'import focus_validator, os; print(os.path.dirname(focus_validator.__file__))')"
    local dir="$venv/run"
    mkdir -p "$dir"
    ln -sfn "$pkg" "$dir/focus_validator"
    echo "$dir"
}

if [ "${1:-}" = "--setup" ]; then
    setup_venv
    echo "$venv/bin/python"
    exit 0
fi
if [ $# -lt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
fi

file="$1"; shift
[ -f "$file" ] || { echo "error: $file: no such file" >&2; exit 2; }
file="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
setup_venv
dir="$(run_dir)"
cd "$dir"
exec "$venv/bin/focus-validator" --data-file "$file" --validate-version 1.2 \
    --applicability-criteria ALL --block-download --output-type console --show-violations "$@"
