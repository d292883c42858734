#!/usr/bin/env bash
# Builds and pushes the Cloud Run image of costkit (functions/gcp-handler/Dockerfile: a static
# musl binary on distroless).
#
#   scripts/package-gcp.sh IMAGE                 # local Docker (BuildKit): build, then push
#   scripts/package-gcp.sh --cloud-build IMAGE   # Cloud Build: no Docker on this machine
#
# IMAGE is an Artifact Registry reference, e.g.
# europe-west1-docker.pkg.dev/costkit-prod/costkit/costkit-gcp:2026-03-15 (docs/gcp-handler.md).
# Deploy it with `terraform apply -var image=IMAGE` in infra/gcp, or
# `gcloud run deploy costkit --image IMAGE`.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
dockerfile=functions/gcp-handler/Dockerfile

usage() { sed -n '2,12p' "$0" >&2; exit 2; }
mode=docker
if [ "${1:-}" = "--cloud-build" ]; then mode=cloud-build; shift; fi
[ $# -eq 1 ] || usage
image="$1"

case "$mode" in
docker)
    DOCKER_BUILDKIT=1 docker build -f "$dockerfile" -t "$image" .
    docker push "$image"
    ;;
cloud-build)
    # Cloud Build uploads the directory minus .gcloudignore (or .gitignore when there is none:
    # target/ stays here) and builds with BuildKit for the Dockerfile's cache mounts.
    config="$(mktemp)"
    trap 'rm -f "$config"' EXIT
    cat >"$config" <<YAML
steps:
  - name: gcr.io/cloud-builders/docker
    env: ["DOCKER_BUILDKIT=1"]
    args: ["build", "-f", "$dockerfile", "-t", "$image", "."]
images: ["$image"]
options:
  machineType: E2_HIGHCPU_8
timeout: 1800s
YAML
    gcloud builds submit --config "$config" .
    ;;
esac
echo "pushed $image"
