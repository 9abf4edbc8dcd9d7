#!/usr/bin/env bash
# Active Learning Studio developer entry point.
#   ./dev.sh app  [-- --project DIR]   set up, then serve the app on http://localhost:8501
#   ./dev.sh test [pytest args]        set up (chromium included), then run the whole suite
# The venv lives in .venv and is rebuilt only when requirements.txt changes.
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
    exec .venv/bin/python -m streamlit run app.py --server.address localhost \
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
