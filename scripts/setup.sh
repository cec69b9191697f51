#!/usr/bin/env bash
# Set up edgeslim on a fresh Debian machine with Python 3.11: Debian packages, .venv, the pinned
# CPU build of torch, the package with its extras. Safe to run twice. Used by the Makefile, by CI
# (.ci/run through `make test`) and by the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
DEB_PACKAGES=(
  build-essential                                            # host C backend (cc -O2)
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm  # Cortex-M cross-compile + emulation
  chromium                                                   # report rendering test
  postgresql                                                 # store test against PostgreSQL
  verilator yosys nextpnr-ice40                              # FPGA: simulation and iCE40 synthesis
  espeak-ng sox                                              # synthetic keyword-spotting data
)

install_debian() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "setup: apt-get not found; install these yourself: ${missing[*]}" >&2
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_python() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  # torch is pinned to the CPU build; an unpinned torch would pull a multi-GB CUDA build.
  # TORCH_INDEX_URL (optional) points pip at a CPU-only wheel index, e.g. in a container build.
  local torch_src=()
  [ -n "${TORCH_INDEX_URL:-}" ] && torch_src=(--index-url "$TORCH_INDEX_URL")
  "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" \
    2>/dev/null || "${pip[@]}" install "${torch_src[@]}" "torch==2.13.0"
  "${pip[@]}" install -e ".[torch,data,report,postgres,trees,search,ray,tflite,dev]"
}

[ "${EDGESLIM_SKIP_APT:-0}" = "1" ] || install_debian
install_python
echo "setup: done ($VENV)"
