#!/usr/bin/env bash
# Install the project (editable) with its pinned dependencies, extras dev and dask, into the
# virtual environment whose interpreter is $1 (`make env` calls this after creating .venv).
#
# uv (pinned below) installs the same pinned versions as pip, resolving and unpacking in
# parallel: a fresh .venv took 133 s with uv against 560 s with pip, measured back to back on
# this 2-core machine (load 7-15 both times; torch pulls ~3 GB of wheels). uv does not read
# pip's configuration, so the indexes, local wheel folders and constraints that pip is
# configured with here (pip.conf, PIP_* variables) are handed to it, and it is told to pick
# versions from all indexes as pip does (--index-strategy unsafe-best-match).
# --compile-bytecode: uv, unlike pip, writes no .pyc files by default, and where
# PYTHONDONTWRITEBYTECODE is set (as in CI here) Python never writes them either: every
# process (each pytest worker, kernel, subprocess) then compiled torch, scipy, pandas, ...
# from source again (an nbval job of 00_setting: 23 s CPU without them, 12 s with them).
# When uv cannot be installed or fails, pip installs everything as before (pip compiles).
# INSTALLER=pip skips uv.
set -euo pipefail
PY=${1:?usage: install_env.sh PATH/TO/VENV/bin/python}
UV_VERSION=0.13.9
SPEC='.[dev,dask]'

pip_install() {
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -e "$SPEC"
}

# pip's configured index-url / extra-index-url / find-links / constraint as uv options
uv_options() {
  "$PY" -m pip config list 2>/dev/null | "$PY" -c '
import shlex, sys
flags = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
         "find-links": "--find-links", "constraint": "--constraint"}
seen, index = [], None
for line in sys.stdin:
    key, sep, value = line.strip().partition("=")
    name = key.rsplit(".", 1)[-1]
    if not sep or name not in flags:
        continue
    for item in shlex.split(value):
        for part in item.split():
            if name == "index-url":
                index = index or part
            elif (name, part) not in seen:
                seen.append((name, part))
if index:
    print(flags["index-url"]); print(index)
for name, part in seen:
    print(flags[name]); print(part)
'
}

if [ "${INSTALLER:-uv}" = uv ] && "$PY" -m pip install --quiet "uv==$UV_VERSION"; then
  mapfile -t opts < <(uv_options)
  echo "[env] uv pip install -e '$SPEC' ${opts[*]}"
  if ! "$PY" -m uv pip install --quiet --python "$PY" --index-strategy unsafe-best-match \
      --compile-bytecode "${opts[@]}" -e "$SPEC"; then
    echo "[env] uv failed; installing with pip instead" >&2
    pip_install
  fi
else
  echo "[env] pip install -e '$SPEC'"
  pip_install
fi
