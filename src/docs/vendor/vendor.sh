#!/bin/sh
# Rebuilds the docs site's vendored front-end libraries from package.json + package-lock.json:
#   ../assets/vendor.js                   one minified file of IIFEs (globals: cytoscape, dagre, hljs)
#   ../assets/THIRD-PARTY-LICENSES.txt    every bundled package's licence text, plus inline notices
# Needs node >= 18, npm and the npm registry; nothing else. Cargo never runs this: the outputs are
# committed and embedded in the binary with include_str!.
#   sh src/docs/vendor/vendor.sh           rebuild the two files
#   sh src/docs/vendor/vendor.sh --check   rebuild aside and fail if the committed files differ
set -eu
cd "$(dirname "$0")"
DIST=../assets
OUT=$DIST
if [ "${1:-}" = "--check" ]; then OUT=$(mktemp -d); fi
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"; if [ "$OUT" != "$DIST" ]; then rm -rf "$OUT"; fi' EXIT
mkdir -p "$OUT"

# Exactly the locked versions, integrity-checked; no install scripts run (esbuild finds its binary through the
# @esbuild/<platform> optional dependency, so it needs no postinstall).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# Two IIFEs (graph, highlight) built separately and concatenated into one file: evaluates faster than one bundle.
for part in graph highlight; do
  entry=vendor-entry.js; [ $part = highlight ] && entry=vendor-entry-highlight.js
  ./node_modules/.bin/esbuild $entry --bundle --minify --format=iife --target=es2020 \
    --platform=browser --define:process.env.NODE_ENV='"production"' \
    --legal-comments=external --metafile="$BUILD/meta-$part.json" --outfile="$BUILD/$part.js" --log-level=warning
done
{ echo '/*! Kiln docs vendor bundle: cytoscape, cytoscape-dagre, @dagrejs/dagre, highlight.js. Licences: THIRD-PARTY-LICENSES.txt */'
  cat "$BUILD/graph.js" "$BUILD/highlight.js"; } > "$BUILD/kiln-docs-vendor.min.js"
node tools/licenses.js "$BUILD/meta-graph.json" "$BUILD/meta-highlight.json" \
  "$BUILD/graph.js.LEGAL.txt" "$BUILD/highlight.js.LEGAL.txt" > "$BUILD/THIRD-PARTY-LICENSES.txt"
cp "$BUILD/kiln-docs-vendor.min.js" "$OUT/vendor.js"
cp "$BUILD/THIRD-PARTY-LICENSES.txt" "$OUT/"

# Smoke test in headless Chromium when there is one: the globals exist, dagre lays out, hljs knows SQL.
if [ "$OUT" = "$DIST" ] && command -v chromium >/dev/null 2>&1; then
  UDD=$(mktemp -d)
  T=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$UDD" \
      --allow-file-access-from-files --dump-dom "file://$PWD/tools/smoke.html" 2>/dev/null | grep -o '<title>[^<]*' || true)
  rm -rf "$UDD"
  case "$T" in *SMOKE-OK*) echo "smoke test in chromium: ok";; *) echo "smoke test in chromium failed: $T" >&2; exit 1;; esac
fi

if [ "$OUT" != "$DIST" ]; then
  for f in vendor.js THIRD-PARTY-LICENSES.txt; do
    cmp -s "$OUT/$f" "$DIST/$f" || { echo "vendor.sh --check: $f differs from a fresh build" >&2; exit 1; }
  done
  echo "vendor.sh --check: the committed bundle matches a fresh build"
fi
for f in "$OUT/vendor.js" "$OUT/THIRD-PARTY-LICENSES.txt"; do
  printf '%-32s %8d bytes  %7d gzip -9  %s\n' "$(basename "$f")" "$(wc -c < "$f")" "$(gzip -9c "$f" | wc -c)" \
    "$(sha256sum "$f" | cut -c1-16)"
done
