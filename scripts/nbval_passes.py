"""Run the notebook regression tests (nbval) under several CPU/BLAS settings in one pool.

    python scripts/nbval_passes.py --jobs 2 - MKL_CBWR=COMPATIBLE MKL_CBWR=AVX2 \
        ATEN_CPU_CAPABILITY=default

Each SETTING is one pass over every notebook in ``notebooks/`` (``-`` is the current
environment as it is; ``NAME=VALUE`` is set for that pass). Instead of one pytest-xdist run
per pass, where the slowest notebook holds up each pass, every (pass, notebook) pair is one
job: ``pytest --nbval-lax --nbval-current-env notebooks/<name>.ipynb`` with the setting in
its environment, so the kernel it starts takes that code path. Jobs run ``--jobs`` at a time,
longest first (expected time: the papermill duration stored in the notebook's metadata),
which packs the passes onto the cores. Each pass writes into its own fresh temporary
results folder (``GOLDILOCKS_RESULTS_DIR``), so every pass recomputes everything, as
before. The exit status is non-zero when any job fails; every job runs regardless, and the
summary names each failing (pass, notebook).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def expected_seconds(notebook: Path) -> float:
    """The notebook's last stored run time (papermill metadata), 60 s when unknown."""
    try:
        meta = json.loads(notebook.read_text())["metadata"]
        return float(meta["papermill"]["duration"])
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        return 60.0


def parse_setting(text: str) -> dict[str, str]:
    """``-`` -> no change; ``NAME=VALUE`` -> ``{NAME: VALUE}``."""
    if text == "-":
        return {}
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"setting must be '-' or NAME=VALUE, got {text!r}")
    return {name: value}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("settings", nargs="+", metavar="SETTING",
                    help="'-' (current environment) or NAME=VALUE; one pass each")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="notebooks executed at the same time (default: CPU count)")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                    help="folder of the stored notebooks")
    ap.add_argument("--notebook", action="append", default=None, metavar="NAME",
                    help="only this notebook (name without .ipynb; repeatable)")
    ap.add_argument("--keep-results", type=Path, default=None, metavar="DIR",
                    help="when every job passed, move what the FIRST pass wrote (claims, "
                         "figures, cache) into DIR instead of deleting it (CI: the smoke "
                         "book then reads the computations this pass checked from its cache)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {args.jobs}")
    for s in args.settings:
        parse_setting(s)
    notebooks = sorted(args.notebooks.glob("*.ipynb"))
    if args.notebook:
        unknown = sorted(set(args.notebook) - {nb.stem for nb in notebooks})
        if unknown:
            ap.error(f"--notebook: no such notebook in {args.notebooks}: {unknown}")
        notebooks = [nb for nb in notebooks if nb.stem in args.notebook]
    if not notebooks:
        ap.error(f"no notebooks in {args.notebooks}")

    tmp = Path(tempfile.mkdtemp(prefix="nbval-passes-"))
    queue = []
    for i, setting in enumerate(args.settings):
        results = tmp / f"pass{i}" / "smoke"  # one fresh results folder per pass
        for nb in notebooks:
            queue.append((expected_seconds(nb), setting, nb, results))
    queue.sort(key=lambda job: -job[0])  # longest first (LPT)

    lock = threading.Lock()
    outcome: list[tuple[str, str, int, float, float]] = []
    start = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, setting, nb, results = queue.pop(0)
            env = {**os.environ, **parse_setting(setting),
                   "GOLDILOCKS_RESULTS_DIR": str(results)}
            cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                   str(nb.relative_to(ROOT)) if nb.is_relative_to(ROOT) else str(nb),
                   "-q", "-p", "no:cacheprovider"]
            t0 = time.perf_counter()
            with tempfile.TemporaryFile("w+") as log:
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, text=True)
                # wait4: the job's CPU time (pytest and the kernel it waited for), which,
                # unlike the wall time, does not grow when other work shares the cores
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = code = os.waitstatus_to_exitcode(status)
                log.seek(0)
                text = log.read()
            secs, cpu = time.perf_counter() - t0, usage.ru_utime + usage.ru_stime
            with lock:
                outcome.append((setting, nb.stem, code, secs, cpu))
                state = "ok" if code == 0 else f"FAILED (exit {code})"
                print(f"[nbval] {setting:<28} {nb.stem:<28} {secs:6.1f} s wall "
                      f"{cpu:6.1f} s CPU  {state}", flush=True)
                if code != 0:
                    print(text, flush=True)
                else:  # pytest's closing line
                    lines = text.strip().splitlines()
                    print(f"[nbval]   {lines[-1] if lines else ''}", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [o for o in outcome if o[2] != 0]
    first = tmp / "pass0" / "smoke"
    if args.keep_results is not None and not failed and first.is_dir():
        args.keep_results.mkdir(parents=True, exist_ok=True)
        for item in first.iterdir():
            target = args.keep_results / item.name
            if target.exists():
                raise SystemExit(f"--keep-results: {target} exists; give an empty folder")
            shutil.move(str(item), str(target))
        print(f"[nbval] pass {args.settings[0]}: results kept in {args.keep_results}",
              flush=True)
    shutil.rmtree(tmp, ignore_errors=True)

    wall = time.perf_counter() - start
    for setting in args.settings:
        mine = [o for o in outcome if o[0] == setting]
        print(f"[nbval] pass {setting}: {len(mine)} notebooks, "
              f"{sum(o[3] for o in mine):.0f} s wall, {sum(o[4] for o in mine):.0f} s CPU "
              "(summed over its jobs)", flush=True)
    print(f"[nbval] {len(outcome)} jobs ({len(args.settings)} passes x {len(notebooks)} "
          f"notebooks), {args.jobs} at a time: {wall:.0f} s wall, "
          f"{sum(o[4] for o in outcome):.0f} s CPU", flush=True)
    print(f"nbval: {len(outcome) - len(failed)} passed, {len(failed)} failed", flush=True)
    for setting, name, code, *_ in failed:
        print(f"[nbval] FAILED: {name} under {setting} (exit {code})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
