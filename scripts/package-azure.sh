#!/usr/bin/env bash
# Builds the Azure Functions package of the custom handler: host.json, one folder per function
# (functions/azure-handler/app/) and the release `handler` binary, zipped for zip deploy.
#
#   scripts/package-azure.sh            # -> target/azure/costkit-functions.zip
#
# Publish it with `az functionapp deployment source config-zip -g <rg> -n <app> --src <zip>`
# (docs/azure-deploy.md). The binary is built for the machine's target (x86_64 Linux, glibc): the
# Linux Functions images run it as is.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
out="$repo_root/target/azure"

cargo build --release --locked -p costkit-azure-handler --bin handler
rm -rf "$out/package"
mkdir -p "$out/package"
cp -R functions/azure-handler/app/. "$out/package/"
cp "$target_dir/release/handler" "$out/package/handler"
chmod +x "$out/package/handler"
rm -f "$out/costkit-functions.zip"
python3 - "$out/package" "$out/costkit-functions.zip" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in os.walk(src):
        for f in sorted(files):
            path = os.path.join(root, f)
            info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, src))
            # Keep the executable bit: the host starts `handler` directly.
            with open(path, "rb") as fh:
                z.writestr(info, fh.read(), zipfile.ZIP_DEFLATED)
PY
ls -l "$out/costkit-functions.zip"
