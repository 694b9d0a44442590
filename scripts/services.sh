#!/usr/bin/env bash
# Installs the tools the tests need and starts and stops throwaway servers
# on free loopback ports. Their addresses go to .services.env.
#
#   scripts/services.sh tools|start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=$root/.services
env_file=$root/.services.env

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} from Debian's packages" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root: install ${missing[*]} by hand" >&2
    return 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

tools() {
  apt_install tar zstd coreutils
}

start() {
  stop
  mkdir -p "$state"
  : >"$env_file"
}

stop() {
  if [ -d "$state" ]; then
    for pidfile in "$state"/*.pid; do
      [ -e "$pidfile" ] || continue
      kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    rm -rf "$state"
  fi
  : >"$env_file"
}

case "${1:-}" in
  tools) tools ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 tools|start|stop" >&2; exit 2 ;;
esac
