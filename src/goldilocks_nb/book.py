"""Build the book: check a parameter profile, execute every chapter with it, then render.

    python -m goldilocks_nb.book build --profile default      # what `make book` runs
    python -m goldilocks_nb.book build --profile smoke --cache-from DIR  # CI (see below)
    python -m goldilocks_nb.book execute --profile default 01_rescaling_symmetry
    python -m goldilocks_nb.book execute --profile smoke 00_setting -p n_samples 128
    python -m goldilocks_nb.book check --profile paper        # validate only, run nothing
    python -m goldilocks_nb.book scorecard --profile default  # regenerate the scorecard page
    python -m goldilocks_nb.book store                        # refresh notebooks/ (smoke)
    python -m goldilocks_nb.book schema                       # write profiles/profile.schema.json

A profile is ``profiles/<name>.yml`` (any file-name-like name, e.g. ``mine``) or a path to a
YAML file, with ``common`` parameters (given to every chapter) and one section per chapter
under ``notebooks``. Before anything runs, every chapter's parameters (common, section and
``-p`` overrides) are checked against the chapter's declared ``Params``
(:mod:`goldilocks_nb.chapters`): an undeclared key or a value of the wrong type stops the
build with the file and the key. The whole file is then checked against the profiles' JSON
Schema, generated from the same declarations (:func:`profile_schema`), so that a mistake in
the section of a chapter that is not run stops the run too; ``schema`` writes that schema to
``profiles/profile.schema.json`` for editors, and ``check`` also verifies that the written
file is current.

Each chapter is executed by papermill (kernel ``python3``, working directory ``notebooks/``)
into ``book/chapters/<name>.ipynb`` through a temporary file, so a failing notebook never
leaves a half-written chapter: the executed notebook with the error in place is kept at
``_build/failed/<name>.ipynb`` (the message names it), and the build stops before
``jupyter-book`` runs. In the book copy, the notebook's own (smoke) ``parameters`` cell is
removed, a collapsed "Parameters as run" block takes its place, and a closing "Rerun this
chapter" section gives the command and links to the chapter's figures and result files.

``--cache-from DIR`` (``make book BOOK_CACHE=DIR``) first copies the cache entries of the
results folder ``DIR`` into the profile's results folder (:func:`seed_cache`): CI builds the
smoke book after the nbval pass that executed the same notebooks with the same smoke
parameters, and starts from the cache that pass wrote and checked. Every cell still runs.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .contract import ChapterParams, ParameterError
from .results import atomic_write_text
from .scorecard import render_scorecard

__all__ = ["SCHEMA_FILE", "CellProgress", "Profile", "check_profile", "check_schema_file",
           "execute_notebook", "load_profile", "main", "notebook_names", "profile_schema",
           "schema_errors", "schema_text", "seed_cache", "strip_ansi"]

Profile = dict[str, Any]
#: Where ``schema`` writes the profiles' JSON Schema (relative to the repository root).
SCHEMA_FILE = "profiles/profile.schema.json"


class BookError(SystemExit):
    """A build that cannot go on; the message says why (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def _profile_path(root: Path, profile: str) -> Path:
    if profile.endswith((".yml", ".yaml")) or os.sep in profile:
        return Path(profile).expanduser().resolve()
    return root / "profiles" / f"{profile}.yml"


def load_profile(root: Path, profile: str) -> Profile:
    """``{"name", "path", "common": {...}, "notebooks": {name: {...}}}`` of a profile.

    ``profile`` is a name in ``profiles/`` or a path to a YAML file. YAML errors and
    sections of the wrong shape are reported with the file's path.
    """
    path = _profile_path(root, profile)
    if not path.exists():
        names = sorted(p.stem for p in (root / "profiles").glob("*.yml"))
        raise BookError(f"unknown profile {profile!r}: no file {path}; profiles in "
                        f"{root / 'profiles'}: {', '.join(names)} (or give a path to a .yml)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BookError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise BookError(f"{path}: a profile is a mapping with 'common' and 'notebooks'")
    extra = set(data) - {"common", "notebooks"}
    if extra:
        raise BookError(f"{path}: unknown top-level key(s) {sorted(extra)}; "
                        "allowed: common, notebooks")
    common, notebooks = data.get("common") or {}, data.get("notebooks") or {}
    if not isinstance(common, dict) or not isinstance(notebooks, dict) or not all(
            isinstance(v, dict) or v is None for v in notebooks.values()):
        raise BookError(f"{path}: 'common' and each 'notebooks.<chapter>' must be mappings")
    name = path.stem if path.parent == root / "profiles" else str(path)
    return {"name": path.stem, "label": name, "path": path, "common": common,
            "notebooks": {k: v or {} for k, v in notebooks.items()}}


def notebook_names(root: Path) -> list[str]:
    """The chapters in ``notebooks/``, in file-name order (00_, 01_, ...)."""
    return sorted(p.stem for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def chapter_parameters(prof: Profile, name: str,
                       overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """What papermill injects into chapter ``name``: profile name, common, section, -p."""
    return {"profile": prof["name"], **prof["common"], **prof["notebooks"].get(name, {}),
            **(overrides or {})}


def check_profile(root: Path, prof: Profile, names: list[str],
                  overrides: dict[str, Any] | None = None) -> dict[str, ChapterParams]:
    """Validate ``prof`` (and ``overrides``) for chapters ``names`` before running any.

    Returns the chapters' validated ``Params``. Raises :class:`BookError` naming the
    profile file and the key for a section of an unknown chapter, an undeclared
    parameter, or a value of the wrong type or range. The ``Params`` of the chapters
    ``names`` are checked first (they are the authority: types, ranges, consistency, and
    the messages name what is allowed); then the whole file is checked against the JSON
    Schema (:func:`profile_schema`), which also covers the sections of the other chapters.
    """
    from .chapters import params_class

    known = notebook_names(root)
    for n in [*names, *prof["notebooks"]]:
        if n not in known:
            raise BookError(f"{prof['path']}: no notebook {n!r} in notebooks/; "
                            f"chapters: {', '.join(known)}")
    out = {}
    for name in names:
        try:
            cls = params_class(name)
        except KeyError as exc:
            raise BookError(str(exc.args[0])) from None
        source = f"{prof['path']} (common + notebooks.{name}"
        source += " + -p overrides)" if overrides else ")"
        try:
            out[name] = cls.from_mapping(chapter_parameters(prof, name, overrides),
                                         source=source)
        except ParameterError as exc:
            raise BookError(f"profile check failed: {exc}") from None
    errors = schema_errors(prof)
    if errors:
        raise BookError(f"profile check failed: {prof['path']} does not match the profiles' "
                        f"JSON Schema ({SCHEMA_FILE}, generated from the chapters' Params):\n  "
                        + "\n  ".join(errors))
    return out


@functools.cache
def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a profile file, generated from every chapter's ``Params``.

    ``common`` may hold the parameters every chapter declares (with one type); ``notebooks``
    one section per chapter of :data:`goldilocks_nb.chapters.CHAPTERS` with that chapter's
    parameters (:meth:`~goldilocks_nb.contract.ChapterParams.json_schema`: types, allowed
    values, smoke defaults, descriptions). Undeclared keys are refused everywhere. The
    schema is the editors' aid and a whole-file check; ranges and consistency
    (``Params.check``) are checked by the ``Params`` only, which stay the authority.
    """
    from .chapters import CHAPTERS, params_class

    chapters = {name: copy.deepcopy(params_class(name).json_schema()) for name in CHAPTERS}

    def shape(prop: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in prop.items() if k not in ("description", "default")}

    first, *others = chapters.values()
    common = {}
    for key, prop in first["properties"].items():
        props = [c["properties"].get(key) for c in others]
        if all(p is not None and shape(p) == shape(prop) for p in props):
            same_default = all(p.get("default") == prop.get("default") for p in props)
            common[key] = prop if same_default else {k: v for k, v in prop.items()
                                                     if k != "default"}
    defs: dict[str, Any] = {"common": {
        "title": "common parameters",
        "description": "Given to every chapter (a chapter's own section overrides them); "
                       "only the parameters every chapter declares.",
        "type": ["object", "null"], "properties": common, "additionalProperties": False}}
    for name, schema in chapters.items():
        # definitions a chapter's schema refers to (an Enum's, a nested model's) go to the
        # top level, where its "#/$defs/..." references point in the profile schema
        for key, sub in schema.pop("$defs", {}).items():
            if defs.setdefault(key, sub) != sub or key in chapters or key == "common":
                raise ValueError(f"two different JSON Schema definitions named {key!r}")
        defs[name] = {**schema, "type": ["object", "null"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "goldilocks_nb parameter profile",
        "description": "A parameter profile (profiles/<name>.yml): 'common' parameters and "
                       "one section per chapter under 'notebooks'. Generated from the "
                       "chapters' Params by `python -m goldilocks_nb.book schema`; do not "
                       "edit by hand.",
        "type": "object",
        "properties": {
            "common": {"$ref": "#/$defs/common"},
            "notebooks": {"type": ["object", "null"], "additionalProperties": False,
                          "properties": {n: {"$ref": f"#/$defs/{n}"} for n in chapters}},
        },
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_text() -> str:
    """:func:`profile_schema` as the text of :data:`SCHEMA_FILE`."""
    return json.dumps(profile_schema(), indent=2, ensure_ascii=False) + "\n"


def schema_errors(prof: Profile) -> list[str]:
    """What in profile ``prof`` (its ``common`` and ``notebooks`` sections) the JSON Schema
    refuses, one line each with the key's place (``notebooks.03_gamma_p.d``); an undeclared
    key is named with the declared ones."""
    import jsonschema

    data = {"common": prof["common"], "notebooks": prof["notebooks"]}
    validator = jsonschema.Draft202012Validator(profile_schema())
    lines = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = ".".join(map(str, err.absolute_path)) or "(top level)"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            declared = err.schema.get("properties", {})
            unknown = [k for k in err.instance if k not in declared]
            lines.append(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; declared: "
                         f"{', '.join(sorted(declared))}")
        else:
            lines.append(f"{where}: {err.message}")
    return lines


def check_schema_file(root: Path) -> None:
    """Raise :class:`BookError` unless ``root/profiles/profile.schema.json`` equals the
    schema generated from the chapters' ``Params`` (naming the command that rewrites it)."""
    path = root / SCHEMA_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != schema_text():
        raise BookError(f"{path} is {'out of date' if path.exists() else 'missing'}: the "
                        "chapters' Params changed since it was written; run "
                        "`python -m goldilocks_nb.book schema` and commit it")


def _md_cell(text: str, tags: list[str] | None = None):
    import nbformat

    cell = nbformat.v4.new_markdown_cell(text)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def _params_block(params: ChapterParams) -> str:
    rows = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in params.as_dict().items())
    return ("```{dropdown} Parameters as run (profile " + params.profile + ")\n"
            "These are the values this page was executed with (the notebook's own defaults "
            "are the fast `smoke` profile).\n\n| parameter | value |\n|---|---|\n"
            + rows + "\n```\n")


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def _rerun_block(root: Path, name: str, prof: Profile, params: ChapterParams,
                 results: Path) -> str:
    chapter_dir = root / "book" / "chapters"
    profile_arg = prof["label"]
    lines = [
        "## Rerun this chapter",
        "",
        "With the same parameters (from the repository root):",
        "",
        "```bash",
        f"python -m goldilocks_nb.book execute --profile {shlex.quote(profile_arg)} {name}",
        "```",
        "",
        "or with papermill directly, from a YAML file holding the parameters of the table "
        "above:",
        "",
        "```bash",
        f".venv/bin/papermill -k python3 --cwd notebooks notebooks/{name}.ipynb "
        f"/tmp/{name}.ipynb -f params.yml",
        "```",
        "",
    ]
    prefix = name.split("_", 1)[0]
    figures = sorted((results / "figures").glob(f"{prefix}_*.png"))
    inside = results.is_relative_to(root)
    if figures:
        lines.append("Figures of this chapter (PNG and PDF):")
        lines.append("")
        for png in figures:
            pdf = png.with_suffix(".pdf")
            if inside:
                files = [f"{{download}}`{p.suffix[1:].upper()} <{_rel(p, chapter_dir)}>`"
                         for p in (png, pdf) if p.exists()]
                lines.append(f"- `{png.stem}`: " + ", ".join(files))
            else:
                lines.append(f"- `{png}` (and `.pdf`)")
        lines.append("")
    claims = sorted((results / "claims").glob("C*.json"))
    mine = [c for c in claims if _claim_chapter(root, c.stem) == prefix]
    if mine:
        lines.append("Result files of this chapter's claims (JSON; also summarised on the "
                     "scorecard page):")
        lines.append("")
        for c in mine:
            if inside:
                lines.append(f"- {{download}}`{c.stem} <{_rel(c, chapter_dir)}>`")
            else:
                lines.append(f"- `{c}`")
        lines.append("")
    return "\n".join(lines)


def _claim_chapter(root: Path, claim: str) -> str:
    """The two-digit chapter prefix of ``claim`` from ``book/claims.yml`` (or "")."""
    try:
        items = yaml.safe_load((root / "book" / "claims.yml").read_text())["claims"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return ""
    for c in items:
        if c.get("id") == claim:
            nb = str(c.get("notebook") or c.get("chapter") or "")
            return nb[:2]
    return ""


def _decorate_for_book(path: Path, params: ChapterParams) -> None:
    """Book copy: remove the smoke parameters and the injected cell from the page (both
    stay in the file) and show the parameters as run in their place."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    last = -1
    for i, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        if {"parameters", "injected-parameters"} & set(tags):
            last = i
            if "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
    nb.cells.insert(last + 1, _md_cell(_params_block(params), ["parameters-as-run"]))
    nbformat.write(nb, path)


#: ANSI escape sequences (colours, cursor moves) as IPython tracebacks and tqdm write them.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
#: A Python warning as ``warnings.showwarning`` prints it: ``file:line: Category: message``.
_WARNING_LINE = re.compile(r"^.*?:\d+: (?P<category>\w*Warning): (?P<message>.*)$")
#: The right-hand text of a tqdm bar: ``4/10 [00:20<00:30, 1.23run/s]``.
_TQDM_RIGHT = re.compile(r"^\d+(\.\d+)?\w?/\d+(\.\d+)?\w? \[")
#: The left-hand text of a tqdm bar: ``training grid: 40%``.
_TQDM_LEFT = re.compile(r"^.*?\d+%$")
#: Warning categories not forwarded to the runner's terminal (library housekeeping).
_QUIET_WARNINGS = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (for a terminal that is not one, or a log)."""
    return _ANSI.sub("", text)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class CellProgress:
    """What the runner's terminal shows while chapter ``name`` runs (issue 20).

    The engine calls :meth:`cell_start` / :meth:`cell_complete` for each cell and streams
    the notebook's stdout and stderr into :meth:`stream` files as the kernel produces them.
    A cell that runs longer than ``long_cell`` seconds gets a progress line every ``every``
    seconds: ``[book] <name>: cell i/n, <elapsed> elapsed | <latest line>``, where the
    latest line is the last progress line the chapter printed (a ``tqdm`` bar with its
    estimate of what remains, or a printed step), and a closing ``cell i/n done in ...``.
    Python warnings the notebook shows (e.g. a ``CacheWarning`` naming a damaged cache
    entry) are repeated here once each, except deprecation notices. On a terminal the
    progress line is rewritten in place; otherwise each is a plain line, and no ANSI
    colour or cursor codes are written.
    """

    def __init__(self, name: str, out: Any = None, *, every: float | None = None,
                 long_cell: float = 10.0, tty: bool | None = None) -> None:
        self.name, self.out = name, out if out is not None else sys.stdout
        isatty = getattr(self.out, "isatty", None)
        self.tty = bool(isatty and isatty()) if tty is None else tty
        self.every = every if every is not None else (1.0 if self.tty else 30.0)
        self.long_cell = long_cell
        self._lock = threading.RLock()
        self._cell: tuple[int, int, float] | None = None
        self._latest = ""
        self._pending = {"stdout": "", "stderr": ""}
        self._warned: set[str] = set()
        self._widget_desc: dict[str, str] = {}
        self._open_line = False  # a tty progress line waits to be overwritten
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ---- lifecycle
    def __enter__(self) -> CellProgress:
        self._ticker = threading.Thread(target=self._tick_loop, daemon=True,
                                        name=f"progress-{self.name}")
        self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        with self._lock:
            self._end_line()

    # ---- engine callbacks
    def cell_start(self, index: int, total: int, cell: Any) -> None:
        with self._lock:
            self._cell = (index, total, time.monotonic())
            self._latest = ""

    def cell_complete(self, index: int) -> None:
        with self._lock:
            if self._cell is None:
                return
            i, total, start = self._cell
            elapsed = time.monotonic() - start
            self._cell = None
            if elapsed >= self.long_cell:
                self._line(f"cell {i + 1}/{total} done in {_duration(elapsed)}")

    def stream(self, name: str) -> _StreamSink:
        """A write-only file for the notebook's ``stdout`` or ``stderr`` stream."""
        return _StreamSink(self, name)

    def feed(self, stream: str, text: str) -> None:
        """Text the notebook printed on ``stream``, as it arrives."""
        with self._lock:
            text = self._pending[stream] + strip_ansi(text)
            *done, rest = text.split("\n")
            self._pending[stream] = rest[-4096:]
            for line in done:
                self._see(line, complete=True)
            if rest:
                self._see(rest, complete=False)

    def widget_update(self, content: dict[str, Any]) -> None:
        """A Jupyter widget's state update (a ``tqdm.auto`` bar in a kernel is an ``HBox``
        of a description, a progress bar and a text like ``4/10 [00:20<00:30, 1.2run/s]``).
        """
        data = content.get("data") or {}
        state = data.get("state") or {}
        if data.get("method") != "update" or not isinstance(state, dict):
            return
        comm = str(content.get("comm_id", ""))
        with self._lock:
            for key in ("description", "value"):
                value = state.get(key)
                if not isinstance(value, str):
                    continue
                text = html.unescape(strip_ansi(re.sub(r"<[^>]+>", "", value)))
                text = " ".join(text.replace("\u2007", " ").split())
                if _TQDM_RIGHT.match(text):
                    desc = self._widget_desc.get("latest", "")
                    self._latest = (f"{desc} {text}" if desc else text)[:200]
                elif _TQDM_LEFT.match(text):
                    self._widget_desc["latest"] = text
                    self._widget_desc[comm] = text

    # ---- internals
    def _see(self, line: str, complete: bool) -> None:
        parts = [p.strip() for p in line.split("\r")]
        last = next((p for p in reversed(parts) if p), "")
        if not last:
            return
        m = _WARNING_LINE.match(last) if complete else None
        if m:
            if m["category"] not in _QUIET_WARNINGS and last not in self._warned:
                self._warned.add(last)
                self._line(f"{m['category']}: {m['message']}")
            return
        if last.startswith("warnings.warn("):  # the source line printed under a warning
            return
        self._latest = last[:200]

    def _tick_loop(self) -> None:
        # the first line when a cell passes long_cell seconds, then one every `every` s
        last, shown = 0.0, None
        while not self._stop.wait(min(self.every, 0.5)):
            with self._lock:
                if self._cell is None:
                    continue
                i, total, start = self._cell
                now = time.monotonic()
                elapsed = now - start
                if elapsed < self.long_cell or (shown == start and now - last < self.every):
                    continue
                last, shown = now, start
                text = f"cell {i + 1}/{total}, {_duration(elapsed)} elapsed"
                if self._latest:
                    text += f" | {self._latest}"
                if self.tty:
                    self.out.write(f"\r\x1b[K[book] {self.name}: {text}")
                    self.out.flush()
                    self._open_line = True
                else:
                    self._line(text)

    def _end_line(self) -> None:
        if self._open_line:
            self.out.write("\n")
            self._open_line = False

    def _line(self, text: str) -> None:
        self._end_line()
        self.out.write(f"[book] {self.name}: {text}\n")
        self.out.flush()


class _StreamSink:
    """File-like object papermill writes a notebook stream into (see :class:`CellProgress`)."""

    def __init__(self, progress: CellProgress, name: str) -> None:
        self.progress, self.name = progress, name

    def write(self, text: str) -> int:
        self.progress.feed(self.name, text)
        return len(text)

    def flush(self) -> None:
        pass


_ENGINE = "goldilocks-book"


def _register_engine() -> None:
    """papermill's nbclient engine, telling a :class:`CellProgress` when cells start/end."""
    from papermill.engines import NBClientEngine, papermill_engines

    if _ENGINE in papermill_engines._engines:
        return

    from papermill.clientwrap import PapermillNotebookClient
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class BookClient(PapermillNotebookClient):
        """Also shows ``tqdm.auto`` bars, which are Jupyter widgets in a kernel: their
        updates come as comm messages, not as output."""

        def process_message(self, msg, cell, cell_index):
            progress = getattr(self, "book_progress", None)
            if progress is not None and msg.get("msg_type") == "comm_msg":
                progress.widget_update(msg.get("content", {}))
            return super().process_message(msg, cell, cell_index)

    class BookEngine(NBClientEngine):
        @classmethod
        def run_client(cls, nb_man, kernel_name, progress, log_output=False,
                       stdout_file=None, stderr_file=None, start_timeout=60,
                       execution_timeout=None, **kwargs):
            # NBClientEngine.execute_managed_notebook (papermill 2.x), with BookClient
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
            )
            client = BookClient(nb_man, **final_kwargs)
            client.book_progress = progress
            return client.execute()

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, progress=None, **kwargs):
            if progress is not None:
                start, complete = nb_man.cell_start, nb_man.cell_complete
                total = len(nb_man.nb.cells)

                def cell_start(cell, cell_index=None, **kw):
                    progress.cell_start(cell_index or 0, total, cell)
                    return start(cell, cell_index, **kw)

                def cell_complete(cell, cell_index=None, **kw):
                    progress.cell_complete(cell_index or 0)
                    return complete(cell, cell_index, **kw)

                nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
                return cls.run_client(nb_man, kernel_name, progress, **kwargs)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(_ENGINE, BookEngine)


def execute_notebook(root: Path, name: str, parameters: dict[str, Any], out: Path,
                     *, timeout: int = 3600, progress: bool = False,
                     params: ChapterParams | None = None, progress_out: Any = None,
                     progress_every: float | None = None, long_cell: float = 10.0) -> float:
    """Run ``notebooks/<name>.ipynb`` with ``parameters`` into ``out``; return seconds.

    The run goes to a temporary file next to ``out`` that replaces ``out`` only on success.
    On failure the executed notebook (with the error) is kept at
    ``<root>/_build/failed/<name>.ipynb`` and :class:`BookError` names the cell and that file
    (without ANSI colour codes unless stderr is a terminal). With ``progress``, long cells,
    the chapter's latest progress line and its warnings are shown on ``progress_out``
    (default stdout) as :class:`CellProgress` describes.
    """
    import papermill as pm

    from .kernels import AsyncIpcKernelManager  # no port race between parallel kernels

    src = root / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.stem}.running*.ipynb"):  # left by a killed run
        stale.unlink(missing_ok=True)
    tmp = out.with_name(f".{out.stem}.running-{os.getpid()}.ipynb")
    start = time.perf_counter()
    reporter = CellProgress(name, progress_out, every=progress_every, long_cell=long_cell)
    extra: dict[str, Any] = {}
    if progress:
        _register_engine()
        extra = dict(engine_name=_ENGINE, progress=reporter,
                     stdout_file=reporter.stream("stdout"),
                     stderr_file=reporter.stream("stderr"))
    try:
        with reporter if progress else contextlib.nullcontext():
            pm.execute_notebook(
                str(src), str(tmp), parameters=parameters or None, kernel_name="python3",
                cwd=str(root / "notebooks"), log_output=False, progress_bar=False,
                execution_timeout=timeout, kernel_manager_class=AsyncIpcKernelManager,
                **extra,
            )
    except pm.PapermillExecutionError as exc:
        kept = root / "_build" / "failed" / f"{name}.ipynb"
        kept.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            tmp.replace(kept)
        message = (
            f"\nnotebook {name} failed in cell {exc.exec_count}:\n{exc.ename}: {exc.evalue}\n"
            f"{''.join(exc.traceback[-3:]) if exc.traceback else ''}\n"
            f"The executed notebook with the error is at {kept}.\n"
            f"(no book was built; rerun just this chapter with "
            f"`python -m goldilocks_nb.book execute --profile PROFILE {name}`)"
        )
        raise BookError(message if sys.stderr.isatty() else strip_ansi(message)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if params is not None:
        _decorate_for_book(tmp, params)
    tmp.replace(out)
    return time.perf_counter() - start


def _results_dir(root: Path, params: ChapterParams) -> Path:
    """``results_dir`` as the chapters see it (relative to ``notebooks/``), absolute."""
    path = Path(params.results_dir).expanduser()
    return path if path.is_absolute() else (root / "notebooks" / path).resolve()


def _run_chapter(root: Path, name: str, injected: dict[str, Any], out: Path,
                 params: ChapterParams | None) -> float:
    """One chapter's execution (module level: runs in a worker process with ``--jobs``)."""
    print(f"[book] executing {name} ...", flush=True)
    return execute_notebook(root, name, injected, out, progress=True, params=params)


#: Chapters that start only after others of the same build have ended: chapter 04 reads
#: LeNet-5's full-N zone from the results cache that chapter 01 fills (one cache key,
#: :func:`goldilocks_nb.zone_n.zone_against_n`), so running them together would compute it
#: twice. Only an order: a chapter runs (and computes what it needs) without the other.
CHAPTER_AFTER: dict[str, tuple[str, ...]] = {
    "04_optimization_regimes": ("01_rescaling_symmetry",),
}


def _ordered(jobs: list, after: Mapping[str, Sequence[str]]) -> list:
    """``jobs`` with every chapter after the chapters it waits for (stable otherwise)."""
    names = [job[0] for job in jobs]
    out: list = []
    placed: set[str] = set()
    pending = list(jobs)
    while pending:
        for job in pending:
            if all(d in placed or d not in names for d in after.get(job[0], ())):
                break
        else:  # a cycle: keep the given order
            job = pending[0]
        pending.remove(job)
        out.append(job)
        placed.add(job[0])
    return out


def _run_chapters(root: Path, jobs: list[tuple[str, dict[str, Any], Path,
                                               ChapterParams | None]],
                  workers: int, done: Any,
                  after: Mapping[str, Sequence[str]] = CHAPTER_AFTER) -> dict[str, float]:
    """Execute ``jobs`` (name, injected parameters, output, params), ``workers`` at a time.

    With ``workers > 1`` each chapter runs in its own process (its own kernel as always):
    the default profile runs each on one torch thread, so two at a time use both cores of
    a 2-core machine. A chapter listed in ``after`` (default :data:`CHAPTER_AFTER`) starts
    only once the chapters it waits for, when they are part of ``jobs``, have ended.
    ``done(name, seconds)`` is called in this process as each finishes. A failing chapter
    does not stop the ones already running; the first failure is raised once all have
    ended.
    """
    times: dict[str, float] = {}
    jobs_in = list(jobs)
    jobs = _ordered(jobs_in, after)
    if workers <= 1 or len(jobs) <= 1:
        for name, injected, out, params in jobs:
            times[name] = _run_chapter(root, name, injected, out, params)
            done(name, times[name])
        return {job[0]: times[job[0]] for job in jobs_in}
    import concurrent.futures as cf
    import multiprocessing as mp

    names = {job[0] for job in jobs}
    waits = {job[0]: [d for d in after.get(job[0], ()) if d in names] for job in jobs}
    errors: list[BaseException] = []
    ended: set[str] = set()
    pending = list(jobs)
    with cf.ProcessPoolExecutor(max_workers=workers,
                                mp_context=mp.get_context("spawn")) as pool:
        futures: dict[Any, str] = {}

        def submit_ready() -> None:
            for job in list(pending):
                if all(d in ended for d in waits[job[0]]):
                    pending.remove(job)
                    futures[pool.submit(_run_chapter, root, *job)] = job[0]

        submit_ready()
        if not futures and pending:  # a cycle: run in the given order
            job = pending.pop(0)
            futures[pool.submit(_run_chapter, root, *job)] = job[0]
        while futures:
            finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                name = futures.pop(fut)
                ended.add(name)
                try:
                    times[name] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - re-raised below, first one
                    errors.append(exc)
                    continue
                done(name, times[name])
            submit_ready()
    if errors:
        raise errors[0]
    return {job[0]: times[job[0]] for job in jobs_in}


def seed_cache(source: Path, target: Path) -> int:
    """Copy the cache entries of the results folder ``source`` that the results folder
    ``target`` lacks into ``target``'s cache; returns how many were copied.

    The whole ``cache/`` tree is copied (the training engine's run stores are sub-folders),
    except temporary files (names starting with ``.``). Entries already in ``target`` are
    kept. Nothing is trusted by being copied: every entry carries its full key and a
    checksum, checked when a chapter reads it (:func:`goldilocks_nb.results.cached`,
    :class:`goldilocks_nb.training.RunStore`; a damaged or foreign entry is recomputed,
    with a warning).

    Raises:
        BookError: ``source`` has no ``cache/`` folder.
    """
    from .results import ResultsDir

    src, dst = ResultsDir(source).cache, ResultsDir(target).cache
    if not src.is_dir():
        raise BookError(f"--cache-from {source}: no cache folder {src}")
    dst.mkdir(parents=True, exist_ok=True)
    copied = 0
    for entry in sorted(src.rglob("*")):
        rel = entry.relative_to(src)
        out = dst / rel
        if (not entry.is_file() or any(part.startswith(".") for part in rel.parts)
                or out.exists()):
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.seed-{os.getpid()}.tmp")
        shutil.copyfile(entry, tmp)
        tmp.replace(out)
        copied += 1
    return copied


def _execute_all(root: Path, prof: Profile, names: list[str],
                 overrides: dict[str, Any], workers: int = 1,
                 cache_from: Path | None = None) -> dict[str, ChapterParams]:
    names = names or notebook_names(root)
    checked = check_profile(root, prof, names, overrides)
    print(f"[book] profile {prof['label']} ({prof['path']}): parameters of "
          f"{len(names)} chapter(s) checked; {min(workers, len(names))} at a time", flush=True)
    if cache_from is not None:
        for target in sorted({_results_dir(root, checked[n]) for n in names}):
            n = seed_cache(cache_from, target)
            print(f"[book] {n} cache entries copied from {cache_from} into {target} "
                  "(every cell still runs; entries are verified when read)", flush=True)
    total = time.perf_counter()
    jobs, results = [], {}
    for name in names:
        results[name] = _results_dir(root, checked[name])
        jobs.append((name, chapter_parameters(prof, name, overrides),
                     root / "book" / "chapters" / f"{name}.ipynb", checked[name]))

    def done(name: str, secs: float) -> None:
        out = root / "book" / "chapters" / f"{name}.ipynb"
        # The rerun section lists the files the chapter wrote, so it is added afterwards.
        _append_rerun(out, _rerun_block(root, name, prof, checked[name], results[name]))
        print(f"[book] {name}: {secs:.1f} s", flush=True)

    times = _run_chapters(root, jobs, workers, done)
    print("[book] chapter times:", flush=True)
    width = max(len(n) for n in times)
    for name, secs in times.items():
        print(f"[book]   {name:<{width}}  {secs:8.1f} s", flush=True)
    print(f"[book]   {'total':<{width}}  {time.perf_counter() - total:8.1f} s", flush=True)
    return checked


def _append_rerun(path: Path, text: str) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "rerun" not in c.metadata.get("tags", [])]
    nb.cells.append(_md_cell(text, ["rerun"]))
    tmp = path.with_name(f".{path.stem}.rerun-{os.getpid()}.ipynb")
    nbformat.write(nb, tmp)
    tmp.replace(path)


def _write_scorecard(root: Path, prof: Profile, results: Path) -> None:
    text = render_scorecard(root / "book" / "claims.yml", results, prof["label"])
    if results.is_relative_to(root):
        text = text.replace(str(results), str(results.relative_to(root)))
    atomic_write_text(root / "book" / "scorecard.md", text)


def _parse_overrides(pairs: list[list[str]] | None) -> dict[str, Any]:
    out = {}
    for key, value in pairs or []:
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise BookError(f"-p {key} {value!r}: not a YAML value ({exc})") from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m goldilocks_nb.book", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "build": "check the profile, execute every chapter, write the scorecard, render HTML",
        "execute": "check the profile and execute the named chapters (default: all)",
        "check": "only check the profile's parameters against the chapters' declarations",
        "scorecard": "regenerate book/scorecard.md from the profile's result files",
        "store": "re-execute notebooks/ in place with their own (smoke) parameters",
        "schema": f"write the profiles' JSON Schema ({SCHEMA_FILE}) from the chapters' Params",
    }
    for cmd, text in helps.items():
        p = sub.add_parser(cmd, help=text, description=text)
        p.add_argument("--root", default=".", help="repository root (default: .)")
        if cmd == "schema":
            p.add_argument("--check", action="store_true",
                           help=f"write nothing; exit 1 when {SCHEMA_FILE} is not current")
            continue
        p.add_argument("notebooks", nargs="*", help="chapter names, e.g. 01_rescaling_symmetry "
                                                    "(default: all)")
        if cmd != "store":
            p.add_argument("--profile", default="default",
                           help="a name in profiles/ or a path to a .yml (default: default)")
        if cmd in ("build", "execute", "store"):
            p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                           help="chapters executed at the same time, each in its own process "
                                "(default: 1; `make book` uses JOBS, default 2)")
        if cmd in ("build", "execute"):
            p.add_argument("--cache-from", type=Path, default=None, metavar="DIR",
                           help="a results folder (e.g. what `scripts/nbval_passes.py "
                                "--keep-results DIR` kept) whose cache entries are copied "
                                "into the profile's results folder first (those there are "
                                "kept); every cell still runs, reading the verified cache")
        if cmd in ("build", "execute", "check"):
            p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                           help="override one parameter for the named chapters (YAML value)")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()

    if getattr(args, "jobs", 1) < 1:
        ap.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.command == "schema":
        if args.check:
            check_schema_file(root)
            print(f"[book] {root / SCHEMA_FILE} is current")
            return 0
        atomic_write_text(root / SCHEMA_FILE, schema_text())
        print(f"[book] wrote {root / SCHEMA_FILE}")
        return 0
    if args.command == "store":
        # Re-execute the stored notebooks in place with their own (smoke) parameters, so
        # nbval compares against fresh outputs.
        jobs = [(name, {}, root / "notebooks" / f"{name}.ipynb", None)
                for name in args.notebooks or notebook_names(root)]
        _run_chapters(root, jobs, args.jobs,
                      lambda name, secs: print(f"[store] {name}: {secs:.1f} s", flush=True))
        return 0
    prof = load_profile(root, args.profile)
    if args.command == "scorecard":
        names = notebook_names(root)
        checked = check_profile(root, prof, names[:1])
        _write_scorecard(root, prof, _results_dir(root, checked[names[0]]))
        return 0
    overrides = _parse_overrides(getattr(args, "param", None))
    if args.command in ("build", "execute") and os.environ.pop(ChapterParams.RESULTS_DIR_ENV,
                                                                None):
        # the profile's results_dir is where the book's pages and scorecard look
        print(f"[book] note: ${ChapterParams.RESULTS_DIR_ENV} is ignored by the book runner "
              "(the profile's results_dir is used)", flush=True)
    if args.command == "check":
        checked = check_profile(root, prof, args.notebooks or notebook_names(root), overrides)
        check_schema_file(root)
        print(f"[book] {prof['path']}: {len(checked)} chapter(s) OK; the file matches "
              f"{SCHEMA_FILE}, which is current")
        return 0
    checked = _execute_all(root, prof, args.notebooks, overrides, args.jobs, args.cache_from)
    _write_scorecard(root, prof, _results_dir(root, next(iter(checked.values()))))
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
