#!/usr/bin/env bash
# Installs the llama.cpp reference harness (node-llama-cpp, pinned in package-lock.json, with its
# prebuilt CPU binaries) into test/llamacpp/node_modules. Idempotent: does nothing when
# node_modules was installed from the current package-lock.json. Needs node >= 20, npm and the npm
# registry. Used by gpu/tokenizer_parity.test.cpp and by tokenize.mjs / generate.mjs.
#
# --ignore-scripts: node-llama-cpp's postinstall would try to build llama.cpp from source when no
# prebuilt binary fits; we want the prebuilt one or a clear failure (checked below).
set -euo pipefail
cd "$(dirname "$0")"

command -v node >/dev/null || { echo "setup.sh: node is not installed (need node >= 20)" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is not installed" >&2; exit 1; }

stamp=node_modules/.holo-setup-stamp
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup.sh: node_modules is current"
  exit 0
fi

npm ci --no-audit --no-fund --ignore-scripts
echo "setup.sh: $(node tokenize.mjs --version)"
echo "$want" > "$stamp"
