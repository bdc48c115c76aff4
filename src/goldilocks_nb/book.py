"""Build the book: execute every chapter with a parameter profile, then render.

    python -m goldilocks_nb.book build --profile default      # what `make book` runs
    python -m goldilocks_nb.book execute --profile smoke 01_rescaling_symmetry
    python -m goldilocks_nb.book store                        # refresh notebooks/ (smoke)

``profiles/<profile>.yml`` holds ``common`` parameters (given to every notebook) and one
section per notebook under ``notebooks``. Each chapter is executed by papermill (kernel
``python3``, working directory ``notebooks/``) into ``book/chapters/<name>.ipynb`` through
a temporary file, so a failing notebook leaves no half-written chapter; the build stops
with the failing cell's error and ``jupyter-book`` does not run. The scorecard page is
then generated from the result files, and Jupyter Book renders with execution off.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .results import atomic_write_text
from .scorecard import render_scorecard

__all__ = ["execute_notebook", "load_profile", "main", "notebook_names"]


def load_profile(root: Path, profile: str) -> dict[str, Any]:
    """``{"common": {...}, "notebooks": {name: {...}}}`` from ``profiles/<profile>.yml``."""
    path = root / "profiles" / f"{profile}.yml"
    if not path.exists():
        names = sorted(p.stem for p in (root / "profiles").glob("*.yml"))
        raise SystemExit(f"unknown profile {profile!r}: no {path}; profiles: {', '.join(names)}")
    data = yaml.safe_load(path.read_text()) or {}
    return {"common": data.get("common") or {}, "notebooks": data.get("notebooks") or {}}


def notebook_names(root: Path) -> list[str]:
    """The chapters in ``notebooks/``, in file-name order (00_, 01_, ...)."""
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _tag_injected_cell(path: Path) -> None:
    """Hide the papermill-injected parameters cell's input in the book (keep the cell)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            cell.metadata["tags"] = [*tags, "remove-input"]
    nbformat.write(nb, path)


def execute_notebook(root: Path, name: str, parameters: dict[str, Any], out: Path,
                     *, timeout: int = 3600) -> float:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` into ``out``; return seconds.

    Raises ``SystemExit`` with the failing cell's error (and removes the partial output).
    """
    import papermill as pm

    src = root / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.running.ipynb")
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(src), str(tmp), parameters=parameters or None, kernel_name="python3",
            cwd=str(root / "notebooks"), log_output=False, progress_bar=False,
            execution_timeout=timeout,
        )
    except pm.PapermillExecutionError as exc:
        tmp.unlink(missing_ok=True)
        raise SystemExit(
            f"\nnotebook {name} failed in cell {exc.exec_count}:\n{exc.ename}: {exc.evalue}\n"
            f"{''.join(exc.traceback[-3:]) if exc.traceback else ''}\n"
            f"(no book was built; rerun just this chapter with "
            f"`python -m goldilocks_nb.book execute {name}`)"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _tag_injected_cell(tmp)
    tmp.replace(out)
    return time.perf_counter() - start


def _execute_all(root: Path, profile: str, names: list[str]) -> dict[str, Any]:
    prof = load_profile(root, profile)
    known = notebook_names(root)
    for n in [*names, *prof["notebooks"]]:
        if n not in known:
            raise SystemExit(f"no notebook {n!r} in notebooks/; notebooks: {', '.join(known)}")
    for name in names or known:
        params = {"profile": profile, **prof["common"], **(prof["notebooks"].get(name) or {})}
        print(f"[book] executing {name} (profile {profile}) ...", flush=True)
        secs = execute_notebook(root, name, params, root / "book" / "chapters" / f"{name}.ipynb")
        print(f"[book] {name}: {secs:.1f} s", flush=True)
    return prof


def _results_dir(root: Path, prof: dict[str, Any]) -> Path:
    rel = prof["common"].get("results_dir", "../results/smoke")
    return (root / "notebooks" / rel).resolve()


def _write_scorecard(root: Path, profile: str, prof: dict[str, Any]) -> None:
    results = _results_dir(root, prof)
    text = render_scorecard(root / "book" / "claims.yml", results, profile)
    text = text.replace(str(results), str(results.relative_to(root)))
    atomic_write_text(root / "book" / "scorecard.md", text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m goldilocks_nb.book", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("build", "execute", "scorecard", "store"))
    ap.add_argument("notebooks", nargs="*", help="chapter names (default: all)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--root", default=".", help="repository root")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()

    if args.command == "store":
        # Re-execute the stored notebooks in place with their own (smoke) parameters, so
        # nbval compares against fresh outputs.
        for name in args.notebooks or notebook_names(root):
            path = root / "notebooks" / f"{name}.ipynb"
            print(f"[store] {name}: {execute_notebook(root, name, {}, path):.1f} s")
        return 0
    if args.command == "scorecard":
        _write_scorecard(root, args.profile, load_profile(root, args.profile))
        return 0
    prof = _execute_all(root, args.profile, args.notebooks)
    _write_scorecard(root, args.profile, prof)
    if args.command == "build":
        jb = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(jb), "build", str(root), "--builder", "html", "-W", "-n", "--keep-going"]
        print("[book] " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd, cwd=root)
        if done.returncode != 0:
            print("[book] jupyter-book build failed", file=sys.stderr)
            return done.returncode
        print(f"[book] done: {root / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
