#!/usr/bin/env bash
# Installs what building and testing screenrec needs, when it is missing:
# Debian packages (nasm for OpenH264's assembly, Xvfb and X tools for the
# capture tests, ffmpeg/ffprobe as an independent decoder, the age CLI,
# Chromium for the browser tests) and the npm packages of tests/browser.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# `setup.sh build` installs only what building needs; the default is everything the tests need.
mode=${1:-test}
packages=(nasm g++ pkg-config)
if [ "$mode" != build ]; then
  packages+=(xvfb x11-apps x11-utils x11-xserver-utils xterm xdotool ffmpeg age chromium fonts-dejavu-core time bc procps curl prometheus systemd desktop-file-utils)
  # PostgreSQL's server programs (initdb, pg_ctl): the tests start their own cluster in a temp dir.
  packages+=(postgresql)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is required (https://rustup.rs)" >&2
  exit 1
fi

if [ "$mode" != build ] && [ -f tests/browser/package.json ] && { [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/tus-js-client ]; }; then
  echo "setup: installing browser-test packages (playwright-core, tus-js-client; no browser download)" >&2
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

# Schema fuzzing (scripts/schemathesis.sh): schemathesis from PyPI in a venv under target/.
if [ "$mode" != build ] && [ ! -x target/schemathesis-venv/bin/schemathesis ]; then
  echo "setup: installing schemathesis in target/schemathesis-venv" >&2
  python3 -m venv target/schemathesis-venv
  target/schemathesis-venv/bin/pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi

# The .deb test (scripts/test-deb.sh): cargo-deb, cached in ~/.cargo/bin.
if [ "$mode" != build ] && ! command -v cargo-deb >/dev/null; then
  echo "setup: installing cargo-deb" >&2
  cargo install cargo-deb --locked
fi

# The S3 server of the tests (docs/rws.md, "PostgreSQL and S3"): moto's server mode in a venv under target/.
if [ "$mode" != build ] && [ ! -x target/moto-venv/bin/moto_server ]; then
  echo "setup: installing moto (S3 test server) in target/moto-venv" >&2
  python3 -m venv target/moto-venv
  target/moto-venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
