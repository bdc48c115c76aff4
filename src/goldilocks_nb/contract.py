"""The chapter contract: declared, validated parameters and one verdict per claim.

Every chapter of the book is package code. Its module (``goldilocks_nb.chapters.<name>``)
declares

* ``Params``: a dataclass derived from :class:`ChapterParams` whose fields are the
  chapter's papermill parameters, with types and defaults (the defaults are the ``smoke``
  profile and equal the notebook's ``parameters`` cell; a test checks this);
  :meth:`ChapterParams.validate` adds the range checks and raises :class:`ParameterError`
  naming the parameter, the value and what is allowed, *before* any compute;
* the computations that produce the chapter's numbers;
* one verdict function per claim, returning a :class:`Verdict` whose ``why`` is built from
  the measured numbers.

The notebook keeps the ``parameters`` cell, then ``params = Params.from_namespace(globals())``,
calls into the module, plots, and prints. The book runner (:mod:`goldilocks_nb.book`) checks
a profile against the same declarations (:meth:`ChapterParams.from_mapping`) before executing
anything, so a misspelled key or a value of the wrong type is refused with the file and key.

Types understood in field annotations: ``bool``, ``int`` (not ``bool``, not ``0.5``),
``float`` (ints accepted, converted), ``str``, ``list[X]``, ``tuple[X, ...]``,
``dict[str, X]``, ``X | Y`` and ``Literal[...]``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin, get_type_hints

__all__ = [
    "CLAIM_ID",
    "INCONCLUSIVE",
    "VERDICTS",
    "ChapterParams",
    "ParameterError",
    "Verdict",
    "check_type",
    "inconclusive",
    "paper_quote",
    "record_verdict",
    "seed_agreement",
    "verdict_from_checks",
]

#: The verdict for a claim whose effect the run cannot resolve at its size (the
#: preconditions for seeing it are not met): a statement about our scale, not the paper.
INCONCLUSIVE = "inconclusive at this scale"
#: Every verdict a claim can get (the one home of this list; results and scorecard use it).
VERDICTS = ("reproduced", "partly", "not reproduced", INCONCLUSIVE)
#: Claim ids: ``C<n>`` for the papers' claims (CLAIMS.md), ``B<n>`` for the book's own
#: findings beyond the paper (listed in ``book/claims.yml`` with ``source: book``).
CLAIM_ID = re.compile(r"^[CB][0-9]+$")
P = TypeVar("P", bound="ChapterParams")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ParameterError(ValueError):
    """A chapter parameter with a wrong name, type or value (raised before any compute)."""


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is None:
        names = {int: "integer", float: "number", str: "string", bool: "boolean (true/false)",
                 type(None): "null"}
        return names.get(tp, getattr(tp, "__name__", str(tp)))
    args = get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"list of {_type_name(args[0])}"
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}" if args else "mapping"
    return str(tp)


def check_type(name: str, value: Any, tp: Any) -> Any:
    """``value`` converted to annotation ``tp`` (float from int, tuple from list), or raise.

    Raises:
        ParameterError: naming ``name``, the value, and the expected type.
    """
    def fail() -> typing.NoReturn:
        raise ParameterError(f"parameter {name!r} must be of type {_type_name(tp)}, got {value!r} "
                             f"({type(value).__name__})")

    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            fail()
        return None
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(
                isinstance(a, bool) for a in get_args(tp) if a == value):
            fail()
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return check_type(name, value, arg)
            except ParameterError:
                continue
        fail()
    if tp is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            fail()
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail()
        args = get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                fail()
            return tuple(check_type(f"{name}[{i}]", v, a)
                         for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [check_type(f"{name}[{i}]", v, item) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, Mapping):
            fail()
        kt, vt = get_args(tp) or (Any, Any)
        return {check_type(f"{name} key", k, kt): check_type(f"{name}[{k!r}]", v, vt)
                for k, v in value.items()}
    raise TypeError(f"unsupported parameter annotation {tp!r} for {name!r}")


@dataclass(kw_only=True)
class ChapterParams:
    """Base of every chapter's declared parameters (fields shared by all chapters).

    Subclasses add fields (with smoke defaults) and override :meth:`check` for range
    checks, calling the helpers :meth:`require`, :meth:`require_positive` ... which raise
    :class:`ParameterError`.

    Attributes:
        profile: name of the parameter profile (free text; a file-name-like word).
        results_dir: where claims, figures and the cache go (relative to the notebook).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
    """

    profile: str = "smoke"
    results_dir: str = "../results/smoke"
    device: str = "auto"

    #: notebook file name without extension, e.g. ``"01_rescaling_symmetry"``.
    notebook: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_type(f.name, getattr(self, f.name), hints[f.name]))
        if not _PROFILE_NAME.match(self.profile):
            raise ParameterError(f"parameter 'profile' must be a name of letters, digits, "
                                 f"'_', '-' or '.', got {self.profile!r}")
        if not self.results_dir:
            raise ParameterError("parameter 'results_dir' must be a non-empty path")
        if not (self.device in ("auto", "cpu", "cuda") or re.match(r"^cuda:\d+$", self.device)):
            raise ParameterError(f"parameter 'device' must be 'auto', 'cpu', 'cuda' or "
                                 f"'cuda:N', got {self.device!r}")
        self.check()

    # ---- for subclasses
    def check(self) -> None:
        """Range and consistency checks of the subclass (raise :class:`ParameterError`)."""

    @staticmethod
    def require(condition: bool, name: str, value: Any, allowed: str) -> None:
        """Raise ``ParameterError("parameter NAME=VALUE: must be ALLOWED")`` unless true."""
        if not condition:
            raise ParameterError(f"parameter {name!r} = {value!r}: must be {allowed}")

    @classmethod
    def require_positive(cls, name: str, value: Any) -> None:
        """Every number in ``value`` (a number, list or dict of them) is finite and > 0."""
        for v in _numbers(value):
            cls.require(math.isfinite(v) and v > 0, name, value, "finite and > 0 everywhere")

    @classmethod
    def require_at_least(cls, name: str, value: Any, minimum: float) -> None:
        """Every number in ``value`` is >= ``minimum``."""
        for v in _numbers(value):
            cls.require(v >= minimum, name, value, f">= {minimum:g} everywhere")

    @classmethod
    def require_in(cls, name: str, value: Any, choices: Any) -> None:
        """Every item of ``value`` (a string or a list of them) is one of ``choices``."""
        items = [value] if isinstance(value, str) else list(value)
        choices = tuple(choices)
        for v in items:
            cls.require(v in choices, name, value, "one of " + ", ".join(map(repr, choices)))

    @classmethod
    def require_log_grid(cls, name: str, spec: Any, *, min_num: int = 2,
                         straddle_one: bool = False) -> None:
        """``[start, stop, num]``: 0 < start < stop, integer num >= ``min_num``."""
        ok = (isinstance(spec, (list, tuple)) and len(spec) == 3
              and not isinstance(spec[2], bool) and float(spec[2]) == int(spec[2]))
        cls.require(ok, name, spec, "[start, stop, num] with an integer num")
        start, stop, num = float(spec[0]), float(spec[1]), int(spec[2])
        cls.require(math.isfinite(start) and math.isfinite(stop) and 0 < start < stop, name,
                    spec, "[start, stop, num] with 0 < start < stop")
        cls.require(num >= min_num, name, spec, f"[start, stop, num] with num >= {min_num}")
        if straddle_one:
            cls.require(start < 1.0 < stop, name, spec, "a grid with start < 1 < stop")

    # ---- construction
    @classmethod
    def names(cls) -> list[str]:
        """The declared parameter names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls: type[P], values: Mapping[str, Any], *, source: str = "") -> P:
        """Build from a mapping; unknown names are an error naming ``source`` and the key."""
        known = set(cls.names())
        unknown = [k for k in values if k not in known]
        if unknown:
            where = f" in {source}" if source else ""
            raise ParameterError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))}{where} for chapter "
                f"{cls.notebook or cls.__name__}; declared: {', '.join(sorted(known))}")
        try:
            return cls(**dict(values))
        except ParameterError as exc:
            if source:
                raise ParameterError(f"{exc} (in {source})") from None
            raise

    #: Plain values a parameter can hold; a global of one of these types that the chapter
    #: does not declare is a parameter name it does not know (:meth:`from_namespace`).
    _PLAIN_TYPES: ClassVar[tuple[type, ...]] = (bool, int, float, str, type(None), list, dict)
    #: Names IPython puts in a notebook's globals (besides ``_``-names).
    _IPYTHON_NAMES: ClassVar[frozenset[str]] = frozenset(
        {"In", "Out", "exit", "quit", "get_ipython"})
    #: Environment variable that, when set, replaces ``results_dir`` in
    #: :meth:`from_namespace` (so ``nbval`` runs of the stored notebooks write elsewhere
    #: than the checkout's ``results/``; the book runner does not pass it to its kernels).
    RESULTS_DIR_ENV: ClassVar[str] = "GOLDILOCKS_RESULTS_DIR"

    @classmethod
    def from_namespace(cls: type[P], namespace: Mapping[str, Any]) -> P:
        """Build from a notebook's globals, called right after the parameters cell.

        The declared names are read (papermill has injected its values there). Every other
        global holding a plain value (``int``, ``float``, ``str``, ``bool``, ``None``,
        ``list``, ``dict``) whose name does not start with ``_`` and is not one of IPython's
        (``In``, ``Out``, ``exit``, ``quit``, ``get_ipython``) is a parameter the chapter
        does not declare, e.g. ``papermill -p dd 100`` for ``d``: a :class:`ParameterError`
        names it and the declared ones (modules, classes and functions are not values and
        are ignored). When ``$GOLDILOCKS_RESULTS_DIR`` is set, it replaces ``results_dir``.
        """
        known = set(cls.names())
        unknown = [k for k, v in namespace.items()
                   if k not in known and not k.startswith("_") and k not in cls._IPYTHON_NAMES
                   and isinstance(v, cls._PLAIN_TYPES)]
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} in the notebook "
                f"(papermill -p/-f, or a global set before this cell) for chapter "
                f"{cls.notebook or cls.__name__}; declared: {', '.join(sorted(known))}")
        values = {k: namespace[k] for k in cls.names() if k in namespace}
        override = os.environ.get(cls.RESULTS_DIR_ENV)
        if override:
            values["results_dir"] = override
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as plain values (lists for tuples), e.g. for result files."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    #: Fields that say where and under which name a run goes, not what it computes: they
    #: never enter a cache key (a moved or renamed results folder recomputes nothing).
    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("profile", "results_dir", "device")

    def result_key(self) -> dict[str, Any]:
        """The parameters that change a result (:meth:`as_dict` less :attr:`RUN_FIELDS`):
        the one cache key of every chapter."""
        return {k: v for k, v in self.as_dict().items() if k not in self.RUN_FIELDS}

    def table(self) -> str:
        """The parameters as run, one ``name = value`` per line (for the chapter page)."""
        width = max(len(n) for n in self.names())
        return "\n".join(f"{k:<{width}} = {v!r}" for k, v in self.as_dict().items())


def _numbers(value: Any) -> list[float]:
    if isinstance(value, Mapping):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return [float(value)]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Verdict:
    """The outcome of testing one claim.

    Attributes:
        claim: claim id, e.g. ``"C4"`` (``"B1"`` for a finding of the book's own).
        verdict: one of :data:`VERDICTS`.
        measured: the key measured numbers in words, as the scorecard shows them.
        why: the reason, built from the measured numbers (required unless reproduced).
        values: the raw numbers behind it (JSON-able), for the result file; per-seed values
            go under ``values["per_seed"]``.
        key: the one number a reader looks for first (e.g. ``"slope 4.00 (pred. 4)"``);
            the scorecard's summary table shows it.
        quote: the paper's sentence the verdict tests, with its place (see
            :func:`paper_quote`); the scorecard shows it beside ``definition``.
        definition: the chapter's operational definition of the claim's terms, thresholds
            included (what "trains", "aligned", "outlier" mean in this check).
        needed: for :data:`INCONCLUSIVE` only (and required there): the scale that would
            decide the claim and its estimated cost.
    """

    claim: str
    verdict: str
    measured: str
    why: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""
    quote: str = ""
    definition: str = ""
    needed: str = ""

    def __post_init__(self) -> None:
        if not CLAIM_ID.match(self.claim):
            raise ValueError(f"claim id must look like 'C7' or 'B1', got {self.claim!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.verdict != "reproduced" and not self.why:
            raise ValueError(f"verdict {self.verdict!r} for {self.claim} needs a reason")
        if self.verdict == INCONCLUSIVE and not self.needed:
            raise ValueError(f"verdict {INCONCLUSIVE!r} for {self.claim} needs the scale "
                             "that would decide it (needed=...)")

    def line(self) -> str:
        """``"C4: partly (reason)"``: what a notebook prints (stable across machines)."""
        return f"{self.claim}: {self.verdict}" + (f" ({self.why})" if self.why else "")


_QUOTE = re.compile(r'Paper\s*\(([^)]*)\)\s*:\s*"(.+?)"', re.S)


def paper_quote(func: Any) -> str:
    """The paper's sentence a verdict function tests, read from its docstring.

    The docstring carries it as ``Paper (<place>): "<sentence>"`` (the sentence may wrap
    over several lines); the result is ``'"<sentence>" (<place>)'`` with whitespace
    collapsed, ready for :attr:`Verdict.quote`.

    Raises:
        ValueError: when the docstring has no such quote (every verdict function needs one).
    """
    match = _QUOTE.search(func.__doc__ or "")
    if match is None:
        raise ValueError(f"{getattr(func, '__qualname__', func)!r} has no "
                         "'Paper (<place>): \"<sentence>\"' line in its docstring")
    place, sentence = (" ".join(g.split()) for g in match.groups())
    return f'"{sentence}" ({place})'


def inconclusive(claim: str, measured: str, why: str, needed: str, **kwargs: Any) -> Verdict:
    """An :data:`INCONCLUSIVE` verdict: ``why`` says which precondition for seeing the effect
    the run did not meet, ``needed`` the scale (steps, images, dimension) that would decide
    the claim and its estimated cost."""
    return Verdict(claim, INCONCLUSIVE, measured, why, needed=needed, **kwargs)


def seed_agreement(per_seed: Mapping[Any, bool]) -> str:
    """``"3 of 3 seeds"``-style count of the seeds on which a check holds.

    Args:
        per_seed: seed -> whether the check holds on that seed (at least one seed).
    """
    if not per_seed:
        raise ValueError("seed_agreement needs at least one seed")
    held = sum(bool(v) for v in per_seed.values())
    return f"{held} of {len(per_seed)} seeds"


def verdict_from_checks(claim: str, checks: Mapping[str, bool], measured: str, *,
                        core: tuple[str, ...] = (), values: Mapping[str, Any] | None = None
                        ) -> Verdict:
    """Reproduced when every check holds, partly when the ``core`` ones (or, without core,
    at least one) hold, else not reproduced; ``why`` lists the failed checks by name."""
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict(claim, "reproduced", measured, "", dict(values or {}))
    core_ok = all(checks[k] for k in core) if core else len(failed) < len(checks)
    verdict = "partly" if core_ok else "not reproduced"
    why = "failed: " + "; ".join(failed)
    return Verdict(claim, verdict, measured, why, dict(values or {}))


def record_verdict(verdict: Verdict, params: ChapterParams, *, evidence: str,
                   data_source: str) -> Path:
    """Write ``verdict`` to ``params.results_dir/claims/<claim>.json`` for the scorecard.

    Args:
        verdict: the outcome of the claim's verdict function.
        params: the chapter's parameters as run (recorded beside the verdict).
        evidence: the figure or printed number that tests the claim.
        data_source: the data's ``source`` string(s).
    """
    from .results import record_claim

    return record_claim(verdict.claim, measured=verdict.measured, verdict=verdict.verdict,
                        why=verdict.why, quote=verdict.quote, definition=verdict.definition,
                        needed=verdict.needed, evidence=evidence, parameters=params.as_dict(),
                        profile=params.profile, data_source=data_source,
                        results_dir=params.results_dir,
                        values={**verdict.values, **({"key": verdict.key} if verdict.key else {})})
