#!/usr/bin/env bash
# Compile the codec's numba kernels into their on-disk cache, so that no test, demo or Spark worker compiles them:
# ~50 s on a clean clone, nothing while the codec's sources are unchanged since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.warmed-codec
sources=$(cat image_assets/codec/*.py | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources" ]; then
  exit 0
fi
echo "compiling the codec's numba kernels into their cache (once, about a minute)"
.venv/bin/python -m image_assets.codec.warmup
echo "$sources" > "$stamp"
