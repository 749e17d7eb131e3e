#!/usr/bin/env bash
# Installs every Debian package Holobionte needs to build, test and run. Idempotent: packages already
# present are skipped by apt, so running it twice costs only the `dpkg -s` check.
# Nothing is downloaded besides Debian packages. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libcaf-dev
  libzmq3-dev cppzmq-dev
  libmsgpack-cxx-dev libboost-dev
  libpq-dev postgresql
  libsqlite3-dev sqlite3
  prometheus-cpp-dev prometheus
  libboost-test-dev
  libtomlplusplus-dev
  libcli11-dev
  libsodium-dev libzstd-dev
  libedit-dev
  libcpp-httplib-dev
  clang libclang-rt-14-dev
  python3-zmq python3-msgpack python3-pexpect
  procps curl
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# The llama.cpp reference harness of the tests (test/llamacpp) runs on Node.js; images that ship their
# own Node (>= 20) keep it, others get Debian's.
if ! command -v node >/dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
