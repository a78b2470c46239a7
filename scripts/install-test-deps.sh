#!/usr/bin/env bash
# Installs what the test suite drives besides cargo: Debian's `chromium` (headless), for the hub
# console's browser test (tests/tests/console.rs; without it that test prints a "skipped" line).
# Does nothing when /usr/bin/chromium exists. Needs root, or sudo.
#
#   scripts/install-test-deps.sh
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "no apt-get: install Chromium by hand (or point MIMI_CHROMIUM at it)" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "installing chromium needs root or sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
