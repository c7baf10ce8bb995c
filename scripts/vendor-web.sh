#!/usr/bin/env bash
# Rebuilds web/vendor/ (the browser recorder's third-party code, shipped in
# the binary, never loaded from a CDN) from pinned npm packages: mediabunny
# (fMP4 muxer) and age-encryption (with its @noble/@scure dependencies),
# each bundled by esbuild into one ES module with only what
# web/srs-browser.js imports. Versions and licences: web/vendor/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --save-exact \
  mediabunny@1.61.0 age-encryption@0.3.1 esbuild@0.28.2 >/dev/null
# esbuild's postinstall may be held back by npm's install-script policy; its
# platform package holds the binary either way.
esbuild=$(ls node_modules/@esbuild/*/bin/esbuild | head -1)
cat > mediabunny-entry.js <<'JS'
export { Output, Mp4OutputFormat, NullTarget, EncodedVideoPacketSource, EncodedPacket } from 'mediabunny';
JS
cat > age-entry.js <<'JS'
export { Encrypter } from 'age-encryption';
JS
banner() { echo "/* $1 — bundled by scripts/vendor-web.sh; licence: $2 (see web/vendor/README.md) */"; }
"$esbuild" mediabunny-entry.js --bundle --format=esm --minify --legal-comments=inline \
  --banner:js="$(banner 'mediabunny 1.61.0' 'MPL-2.0')" --outfile="$root/web/vendor/mediabunny.js"
"$esbuild" age-entry.js --bundle --format=esm --minify --legal-comments=inline \
  --banner:js="$(banner 'age-encryption 0.3.1 with @noble/ciphers, @noble/curves, @noble/hashes, @noble/post-quantum, @scure/base' 'BSD-3-Clause and MIT')" \
  --outfile="$root/web/vendor/age-encryption.js"
# Their licences travel with them (BSD and MIT ask for the notice to be kept).
rm -rf "$root/web/vendor/licenses"
mkdir -p "$root/web/vendor/licenses"
for p in mediabunny age-encryption @noble/ciphers @noble/curves @noble/hashes @noble/post-quantum @scure/base; do
  node -p "const j=require('./node_modules/$p/package.json'); j.name+' '+j.version+' '+j.license"
  lic=$(ls node_modules/$p/LICEN[CS]E* node_modules/$p/license* 2>/dev/null | head -1 || true)
  [ -n "$lic" ] || { echo "vendor-web.sh: no licence file in $p" >&2; exit 1; }
  cp "$lic" "$root/web/vendor/licenses/$(echo "$p" | tr -d @ | tr / -).txt"
done
