"""The chapter contract: declared, validated parameters and one verdict per claim.

Every chapter of the book is package code. Its module (``goldilocks_nb.chapters.<name>``)
declares

* ``Params``: a pydantic dataclass derived from :class:`ChapterParams` and declared with
  :func:`params_dataclass`, whose fields are the chapter's papermill parameters, with types
  and defaults (the defaults are the ``smoke`` profile and equal the notebook's
  ``parameters`` cell; a test checks this). pydantic checks the types
  (:data:`PARAMS_CONFIG`: strict, so ``int`` refuses ``0.5`` and ``True``, ``float`` takes
  an ``int``); the chapter's :meth:`ChapterParams.check` adds the range checks. Both raise
  :class:`ParameterError` naming the parameter, the value and what is allowed, *before*
  any compute;
* the computations that produce the chapter's numbers;
* one verdict function per claim, returning a :class:`Verdict` whose ``why`` is built from
  the measured numbers.

The notebook keeps the ``parameters`` cell, then ``params = Params.from_namespace(globals())``,
calls into the module, plots, and prints. The book runner (:mod:`goldilocks_nb.book`) checks
a profile against the same declarations (:meth:`ChapterParams.from_mapping`) before executing
anything, so a misspelled key or a value of the wrong type is refused with the file and key;
:meth:`ChapterParams.json_schema` gives each chapter's part of the profile files' JSON Schema
(``profiles/profile.schema.json``, written by ``python -m goldilocks_nb.book schema``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin

from pydantic import ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

__all__ = [
    "CLAIM_ID",
    "INCONCLUSIVE",
    "PARAMS_CONFIG",
    "VERDICTS",
    "ChapterParams",
    "ParameterError",
    "Verdict",
    "inconclusive",
    "paper_quote",
    "params_dataclass",
    "record_verdict",
    "seed_agreement",
    "verdict_from_checks",
    "verdict_over_seeds",
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


class ParameterError(ValueError):
    """A chapter parameter with a wrong name, type or value (raised before any compute)."""


#: How every chapter's ``Params`` is validated (pydantic v2): strict scalar types (an
#: ``int`` refuses ``0.5``, ``1.0`` and ``True``; a ``bool`` refuses ``1``; a ``str`` refuses
#: numbers; a ``float`` takes an ``int`` and converts it), names that are not declared are
#: refused, and the declared defaults are validated like given values.
PARAMS_CONFIG = ConfigDict(strict=True, extra="forbid", validate_default=True)

#: Allowed values of the shared fields ``profile`` and ``device`` (validator and schema).
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


def params_dataclass(cls: type[P]) -> type[P]:
    """Declare a chapter's ``Params``: a keyword-only pydantic dataclass with
    :data:`PARAMS_CONFIG` whose validation errors are raised as :class:`ParameterError`.

    Fields are declared as in a standard dataclass (``name: type = default``,
    ``dataclasses.field(default_factory=...)``), so ``dataclasses.fields`` and
    ``dataclasses.replace`` (which validates again) work on the result.
    """
    cls = pydantic_dataclass(kw_only=True, config=PARAMS_CONFIG)(cls)
    validated_init = cls.__init__

    @functools.wraps(validated_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            validated_init(self, *args, **kwargs)
        except ValidationError as exc:
            raise _parameter_error(type(self), exc, kwargs) from None

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _type_name(tp: Any) -> str:
    """A field annotation in words, e.g. ``list of number`` (for messages)."""
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


#: pydantic error types that mean "not of the declared type" (message: "must be of type").
_TYPE_ERRORS = ("literal_error", "enum", "is_instance_of", "dataclass_type", "model_type")


def _error_text(cls: type, err: Any, given: Mapping[str, Any]) -> str:
    """One pydantic error as ``parameter NAME must be of type TYPE, got VALUE (PYTYPE)``.

    The error's location is followed through the field's annotation: list items are named
    ``name[i]``, mapping values ``name['key']``, mapping keys ``name key``; at a union
    (``X | None`` included) the message names the union, as a whole, with the value given.
    """
    cause = (err.get("ctx") or {}).get("error")
    loc = err["loc"]
    if isinstance(cause, ParameterError) or (cause is not None and not loc):
        return str(cause)  # raised by check() (the model validator) or a field validator
    fields = getattr(cls, "__pydantic_fields__", {})
    if not loc or loc[0] not in fields:
        return str(err["msg"])
    name, tp, value, known = str(loc[0]), fields[loc[0]].annotation, given.get(loc[0]), True
    at_union = False
    steps = list(loc[1:])
    while steps:
        step, origin, args = steps.pop(0), get_origin(tp), get_args(tp)
        if origin in (typing.Union, types.UnionType):
            at_union = True
            break
        if origin in (list, tuple) and isinstance(step, int):
            fixed = origin is tuple and bool(args) and args[-1] is not Ellipsis
            name, tp = f"{name}[{step}]", args[step] if fixed else (args[0] if args else Any)
            value = value[step] if known and isinstance(value, (list, tuple)) else None
        elif origin is dict and steps[:1] == ["[key]"]:  # the key itself is refused
            name, tp, value, known = f"{name} key", args[0] if args else Any, None, False
            break
        elif origin is dict:
            name, tp = f"{name}[{step!r}]", args[1] if args else Any
            value = value.get(step) if known and isinstance(value, Mapping) else None
        else:
            break
    if get_origin(tp) in (typing.Union, types.UnionType):
        at_union = True
    if err["type"].startswith("missing"):
        return f"parameter {name!r} is required (of type {_type_name(tp)})"
    if not at_union or not known or loc[0] not in given:
        value = err["input"]
    if at_union or err["type"].endswith("_type") or err["type"] in _TYPE_ERRORS:
        return (f"parameter {name!r} must be of type {_type_name(tp)}, got {value!r} "
                f"({type(value).__name__})")
    msg = err["msg"]
    return f"parameter {name!r} = {value!r}: {msg[:1].lower()}{msg[1:]}"


def _parameter_error(cls: type, exc: ValidationError, given: Mapping[str, Any]
                     ) -> ParameterError:
    """``exc`` as a :class:`ParameterError`: one line per refused parameter (each naming
    the parameter, the value and what is allowed), undeclared names with the declared ones.
    """
    errors = exc.errors()
    unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "unexpected_keyword_argument"]
    lines: list[str] = []
    if unknown:
        lines.append(_unknown_text(cls, unknown, ""))
    for err in errors:
        if err["type"] != "unexpected_keyword_argument":
            text = _error_text(cls, err, given)
            if text not in lines:
                lines.append(text)
    if len(lines) == 1:
        return ParameterError(lines[0])
    return ParameterError(f"{len(lines)} problems with the parameters: " + "; ".join(lines))


def _unknown_text(cls: type, unknown: list[str], where: str) -> str:
    known = [f.name for f in dataclasses.fields(cls)]
    return (f"unknown parameter(s) {', '.join(map(repr, unknown))}{where} for chapter "
            f"{getattr(cls, 'notebook', '') or cls.__name__}; declared: "
            f"{', '.join(sorted(known))}")


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def _attribute_docs(cls: type) -> dict[str, str]:
    """Field descriptions from the ``Attributes:`` sections of the class docstrings (the
    class's and its bases'): ``name: text`` entries, ``a, b: text`` shared by several
    fields, and ``a: text; b: text`` for two declared fields on one entry."""
    names = {f.name for f in dataclasses.fields(cls)}
    entry = re.compile(r"^    (?:``)?([A-Za-z_]\w*(?:(?:``)?,\s*(?:``)?[A-Za-z_]\w*)*)(?:``)?:"
                       r"\s+(.*)$")
    split = re.compile(r"(?:;|(?<=\.))\s+`?([A-Za-z_]\w*(?:`?,\s*`?[A-Za-z_]\w*)*)`?:\s+")
    out: dict[str, str] = {}
    mentioned: list[tuple[str, str]] = []
    for klass in reversed(cls.__mro__):
        doc = vars(klass).get("__doc__")
        if not doc or "Attributes:" not in doc:
            continue
        lines = inspect.cleandoc(doc).splitlines()
        body = lines[lines.index("Attributes:") + 1:] if "Attributes:" in lines else []
        entries: list[list[str]] = []
        for line in body:
            if line.strip() and not line.startswith(" "):
                break  # the next section
            match = entry.match(line)
            if match:
                entries.append([match.group(1), match.group(2)])
            elif entries and line.strip():
                entries[-1][1] += " " + line.strip()
        for keys, text in entries:
            text = _ROLE.sub(r"`\1`", " ".join(text.split())).replace("``", "`")
            parts = split.split(text)
            pieces = [(keys, parts[0])]
            # "a: text; b: text": split only where every name before the colon is a field
            for i in range(1, len(parts) - 1, 2):
                sub = [k.strip(" `") for k in parts[i].split(",")]
                if all(k in names for k in sub):
                    pieces.append((parts[i], parts[i + 1]))
                else:
                    pieces[-1] = (pieces[-1][0], f"{pieces[-1][1]}; {parts[i]}: {parts[i + 1]}")
            for group, desc in pieces:
                for key in (k.strip(" `") for k in group.split(",")):
                    if key in names:
                        out[key] = desc.strip()
            mentioned.extend((group, desc) for group, desc in pieces)
    # a field without an entry of its own: the entry that names it, e.g. ``lr`` in
    # "target_loss: ... at most ``train_steps`` steps at rate ``lr``"
    for key in names - set(out):
        for group, desc in mentioned:
            if f"`{key}`" in desc:
                out[key] = f"(see {group.strip()}) {desc.strip()}"
                break
    return out


@params_dataclass
class ChapterParams:
    """Base of every chapter's declared parameters (fields shared by all chapters).

    Subclasses are declared with :func:`params_dataclass` and add fields (with smoke
    defaults); pydantic checks the types (:data:`PARAMS_CONFIG`). They override
    :meth:`check` for range and consistency checks, calling the helpers :meth:`require`,
    :meth:`require_positive` ... which raise :class:`ParameterError`; :meth:`check` runs
    after the types are checked (a pydantic ``model_validator``).

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
        # pydantic calls this after validation; a subclass declared with the standard
        # library's @dataclass would skip validation, so it is refused here.
        if "__pydantic_validator__" not in vars(type(self)):
            raise TypeError(f"{type(self).__module__}.{type(self).__qualname__} must be "
                            "declared with @goldilocks_nb.contract.params_dataclass")

    @model_validator(mode="after")
    def _checked(self) -> ChapterParams:
        if not _PROFILE_NAME.match(self.profile):
            raise ParameterError(f"parameter 'profile' must be a name of letters, digits, "
                                 f"'_', '-' or '.', got {self.profile!r}")
        if not self.results_dir:
            raise ParameterError("parameter 'results_dir' must be a non-empty path")
        if not _DEVICE.match(self.device):
            raise ParameterError(f"parameter 'device' must be 'auto', 'cpu', 'cuda' or "
                                 f"'cuda:N', got {self.device!r}")
        self.check()
        return self

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
            raise ParameterError(_unknown_text(cls, unknown, f" in {source}" if source else ""))
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
            raise ParameterError(_unknown_text(
                cls, unknown, " in the notebook (papermill -p/-f, or a global set before "
                "this cell)"))
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

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the parameters (pydantic's, from the annotations), with each
        field's default (the smoke value) and its description from the ``Attributes:``
        section of the class docstring; the shared ``profile`` and ``device`` get their
        patterns. Undeclared names are refused (``additionalProperties: false``); the
        ranges of :meth:`check` are not expressed (the ``Params`` stay the authority)."""
        schema = TypeAdapter(cls).json_schema()
        docs, defaults = _attribute_docs(cls), cls().as_dict()
        extra = {"profile": {"pattern": _PROFILE_NAME.pattern},
                 "results_dir": {"minLength": 1}, "device": {"pattern": _DEVICE.pattern}}
        props = {}
        for name, prop in schema["properties"].items():
            prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
            props[name] = {**({"description": docs[name]} if name in docs else {}), **prop,
                           **extra.get(name, {}), "default": defaults[name]}
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0]
        return {"title": f"{cls.notebook or cls.__name__} parameters",
                **({"description": " ".join(summary.split())} if summary else {}),
                "type": "object", "properties": props, "additionalProperties": False,
                **{k: v for k, v in schema.items()
                   if k not in ("title", "description", "type", "properties",
                                "additionalProperties", "required")}}


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


def verdict_over_seeds(per_seed: Mapping[int, Verdict]) -> Verdict:
    """One claim's verdict from one verdict per seed (each seed: its own random draws).

    The verdict that more than half of the seeds reach is the claim's. Without such a
    majority the seeds disagree: "partly" when some seed reproduces the claim (or part of
    it) and some seed refutes it (or part of it), else (reproduced or partly on some
    seeds, undecided on the others) inconclusive. The text lists every seed's verdict and
    measured numbers; ``values["per_seed"]`` keeps each seed's verdict, reason and values.

    Args:
        per_seed: seed -> that seed's verdict of one claim (at least one seed; the first
            seed's quote and definition are the claim's).

    Raises:
        ValueError: no seed, or verdicts of different claims.
    """
    if not per_seed:
        raise ValueError("verdict_over_seeds needs at least one seed")
    verdicts = list(per_seed.values())
    first = verdicts[0]
    if any(v.claim != first.claim for v in verdicts):
        raise ValueError(f"per-seed verdicts of different claims: "
                         f"{sorted({v.claim for v in verdicts})}")
    n = len(verdicts)
    counts = {name: sum(v.verdict == name for v in verdicts) for name in VERDICTS}
    majority = next((name for name, k in counts.items() if 2 * k > n), None)
    outcomes = ", ".join(f"seed {s}: {v.verdict}" for s, v in per_seed.items())
    if majority is not None:
        verdict = majority
        agree = f"{counts[majority]} of {n} seeds {majority}"
    elif counts["reproduced"] + counts["partly"] and counts["not reproduced"] + counts["partly"]:
        verdict, agree = "partly", f"the seeds disagree ({outcomes})"
    else:
        verdict, agree = INCONCLUSIVE, f"no majority of the seeds decides ({outcomes})"
    same = [(s, v) for s, v in per_seed.items() if v.verdict == verdict]
    why = ""
    if verdict != "reproduced":
        reasons = "; ".join(f"seed {s}: {v.why}" for s, v in (same or per_seed.items())
                            if v.why)
        why = agree + (f"; {reasons}" if reasons else "")
    needed = ""
    if verdict == INCONCLUSIVE:
        needed = next((v.needed for v in verdicts if v.needed), "") or "more seeds"
    measured = f"{agree}. " + " | ".join(f"seed {s} ({v.verdict}): {v.measured}"
                                         for s, v in per_seed.items())
    values = {"agreement": agree, "counts": {k: c for k, c in counts.items() if c},
              "per_seed": {str(s): {"verdict": v.verdict, "why": v.why,
                                    "values": dict(v.values)} for s, v in per_seed.items()}}
    key = f"{agree}" if majority is not None else verdict
    if same and same[0][1].key:
        key += f"; seed {same[0][0]}: {same[0][1].key}"
    return Verdict(first.claim, verdict, measured, why, values, key, first.quote,
                   first.definition, needed)


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
