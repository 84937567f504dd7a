#!/usr/bin/env bash
# Installs the Debian packages loraplex needs; apt-installs only what is missing (idempotent).
#   scripts/install-deps.sh         build + test dependencies (C++ toolchains: g++ and clang++ for
#                                   `make test-clang`; libraries, node/npm)
#   scripts/install-deps.sh --dev   also the Python packages that regenerate the demo model
#   scripts/install-deps.sh --bench also the matmul yardsticks of `make bench` (OpenBLAS, oneDNN)
set -euo pipefail

PKGS=(build-essential clang cmake pkg-config git
      nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev libyaml-cpp-dev libcli11-dev zlib1g-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      nodejs npm curl ca-certificates)
if [[ "${1:-}" == "--dev" ]]; then
  PKGS+=(python3 python3-torch python3-numpy python3-yaml python3-jinja2 libopenblas0-pthread)
fi
if [[ "${1:-}" == "--bench" ]]; then
  PKGS+=(libopenblas-dev libdnnl-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# nodejs/npm may come from elsewhere on some machines: accept working binaries.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
# Likewise a working clang++ (e.g. from a versioned clang-NN package) is enough.
if command -v clang++ >/dev/null; then
  tmp=(); for p in "${missing[@]+"${missing[@]}"}"; do [[ "$p" == clang ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if (( ${#missing[@]} == 0 )); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
