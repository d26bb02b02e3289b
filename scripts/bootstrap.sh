#!/usr/bin/env bash
# Create .venv from uv.lock on a fresh machine: find Python 3.13, install uv when missing, sync the lock.
# Re-running is cheap: it does nothing while .venv matches uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="0.13.9"

python=$(scripts/find_python.sh)
if command -v uv >/dev/null 2>&1; then
  uv=$(command -v uv)
else
  uv=.tools/uv/bin/uv
  if [ ! -x "$uv" ]; then
    echo "installing uv $UV_VERSION into .tools/uv"
    "$python" -m pip install --quiet --disable-pip-version-check --target .tools/uv "uv==$UV_VERSION"
  fi
fi

stamp=.venv/.synced-lock
lock_hash=$(sha256sum uv.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
echo "creating .venv from uv.lock with $python"
"$uv" sync --frozen --python "$python" --quiet
echo "$lock_hash" > "$stamp"
