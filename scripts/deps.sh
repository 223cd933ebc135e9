#!/usr/bin/env bash
# Install the Debian packages convnet needs, only those missing.
set -euo pipefail
pkgs=(build-essential pkg-config libopenblas-dev zlib1g-dev libpng-dev libjpeg-dev libcairo2-dev python3-numpy dataset-fashion-mnist)
need=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
[ ${#need[@]} -eq 0 ] && exit 0
echo "convnet: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    # Neither root nor sudo: say what to run rather than fail on a missing command.
    echo "convnet: missing packages, and this user is not root and has no sudo. As root, run:" >&2
    echo "  apt-get update && apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${need[@]}"
