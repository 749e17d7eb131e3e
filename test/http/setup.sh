#!/usr/bin/env bash
# Installs the official OpenAI and Ollama JavaScript clients (pinned in package-lock.json) into
# test/http/node_modules for test/http.test.cpp. Idempotent and offline-safe: does nothing when
# node_modules was installed from the current package-lock.json. Needs node >= 20 (openai 7 needs
# a newer one: we pin 6.x), npm and, the first time, the npm registry.
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
node -e "import('openai').then(() => import('ollama')).then(() => console.log('setup.sh: openai and ollama clients installed'))"
echo "$want" > "$stamp"
