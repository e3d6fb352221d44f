#!/usr/bin/env bash
# Print the path of a Python >= 3.12: PATH first, then pyenv's installed versions.
# pyenv's shims fail for versions that are installed but not selected, so every candidate is
# actually run before it is chosen.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for name in python3.14 python3.13 python3.12 python3; do
  candidate=$(command -v "$name" 2>/dev/null) || continue
  if ok "$candidate"; then echo "$candidate"; exit 0; fi
done
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  for candidate in $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do
    if ok "$candidate"; then echo "$candidate"; exit 0; fi
  done
done
echo "No Python >= 3.12 found on PATH or in pyenv's versions. Install one (e.g. 'pyenv install 3.13') and retry." >&2
exit 1
