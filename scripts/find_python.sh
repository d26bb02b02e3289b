#!/usr/bin/env bash
# Print the path of a working Python 3.13 interpreter, or fail with one line naming what to install.
# Looks at $PYTHON, PATH, `uv python find`, pyenv installs that are present but not active, and /usr.
set -u
want="3.13"

works() { [ -n "$1" ] && "$1" -c "import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else 1)" >/dev/null 2>&1; }

candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
candidates+=("$(command -v python$want 2>/dev/null)" "$(command -v python3 2>/dev/null)")
for uv in "$(command -v uv 2>/dev/null)" "$(dirname "$0")/../.tools/uv/bin/uv"; do
  [ -x "$uv" ] && candidates+=("$("$uv" python find "$want" 2>/dev/null)")
done
roots=("${PYENV_ROOT:-}" "$(pyenv root 2>/dev/null)" "$HOME/.pyenv")
for root in "${roots[@]}"; do
  [ -n "$root" ] || continue
  for py in "$root"/versions/$want*/bin/python$want; do candidates+=("$py"); done
done
candidates+=(/usr/local/bin/python$want /usr/bin/python$want)

for py in "${candidates[@]}"; do
  if works "$py"; then
    "$py" -c "import sys; print(getattr(sys, '_base_executable', None) or sys.executable)"
    exit 0
  fi
done
echo "error: Python $want is required but none was found; install it (pyenv install $want, apt-get install python$want, or uv python install $want) or set PYTHON=/path/to/python$want" >&2
exit 1
