"""The chapter contract: typed parameter declarations, validation messages, verdicts; and
every chapter notebook's parameters cell equals its declared defaults."""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jsonschema
import pytest
from pydantic.dataclasses import is_pydantic_dataclass

from goldilocks_nb.book import notebook_names
from goldilocks_nb.chapters import CHAPTERS, params_class
from goldilocks_nb.contract import (
    INCONCLUSIVE,
    ChapterParams,
    ParameterError,
    Verdict,
    inconclusive,
    paper_quote,
    params_dataclass,
    record_verdict,
    seed_agreement,
    verdict_from_checks,
    verdict_over_seeds,
)
from goldilocks_nb.results import load_claims
from notebook_cases import assert_no_inline_comments, notebook_parameters

ROOT = Path(__file__).resolve().parents[1]


@params_dataclass
class Demo(ChapterParams):
    """A demo chapter.

    Attributes:
        n: how many.
        rate, grid: the rate and its
            log grid.
        mode: fast or slow; flag: a switch.
    """

    notebook = "99_demo"
    n: int = 3
    rate: float = 0.5
    grid: list[float] = field(default_factory=lambda: [0.1, 10.0, 5])
    per_model: dict[str, int] = field(default_factory=lambda: {"a": 1})
    mode: Literal["fast", "slow"] = "fast"
    flag: bool = False
    maybe: int | None = None

    def check(self):
        self.require_at_least("n", self.n, 1)
        self.require_positive("rate", self.rate)
        self.require_log_grid("grid", self.grid, straddle_one=True)


def test_defaults_and_conversion():
    p = Demo(rate=2)
    assert p.rate == 2.0 and isinstance(p.rate, float)
    assert p.as_dict()["grid"] == [0.1, 10.0, 5.0]
    assert "rate" in p.table()


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(n=2.5), r"'n' must be of type integer, got 2\.5"),
    (dict(n=True), r"'n' must be of type integer"),
    (dict(n=0), r"'n' = 0: must be >= 1"),
    (dict(rate="fast"), r"'rate' must be of type number"),
    (dict(rate=float("nan")), r"'rate' = nan: must be finite and > 0"),
    (dict(grid=[1.0, 0.1, 5]), r"'grid'.*0 < start < stop"),
    (dict(grid=[0.1, 10.0, 2.5]), r"'grid'.*integer num"),
    (dict(grid=[2.0, 10.0, 5]), r"'grid'.*start < 1 < stop"),
    (dict(per_model={"a": 0.5}), r"per_model\['a'\]\" must be of type integer"),
    (dict(per_model=[1]), r"'per_model' must be of type mapping"),
    (dict(mode="medium"), r"'mode' must be of type 'fast' or 'slow'"),
    (dict(flag=1), r"'flag' must be of type boolean"),
    (dict(maybe=1.5), r"'maybe' must be of type integer or null"),
    (dict(profile="a b"), r"'profile' must be a name"),
    (dict(device="gpu"), r"'device' must be 'auto'"),
    (dict(results_dir=""), r"'results_dir'"),
    # pydantic's strict types: no float for an int, no bool for a number, no str for a number
    (dict(n=1.0), r"'n' must be of type integer, got 1\.0 \(float\)"),
    (dict(rate=True), r"'rate' must be of type number, got True \(bool\)"),
    (dict(rate="1"), r"'rate' must be of type number, got '1' \(str\)"),
    (dict(grid=[0.1, "a", 5]), r"'grid\[1\]' must be of type number, got 'a' \(str\)"),
    (dict(per_model={1: 1}), r"'per_model key' must be of type string, got 1 \(int\)"),
    (dict(nn=3), r"unknown parameter\(s\) 'nn' for chapter 99_demo; declared: device, flag, grid"),
])
def test_bad_values_name_the_parameter(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        Demo(**kwargs)


def test_every_refused_parameter_is_listed():
    with pytest.raises(ParameterError) as err:
        Demo(n=2.5, rate="x", flag=1)
    text = str(err.value)
    assert text.startswith("3 problems with the parameters: ")
    for part in ("'n' must be of type integer, got 2.5", "'rate' must be of type number, got 'x'",
                 "'flag' must be of type boolean (true/false), got 1"):
        assert part in text


def test_unknown_keys_and_source_in_message():
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) 'nn' in f\.yml.*99_demo"):
        Demo.from_mapping({"nn": 3}, source="f.yml")
    with pytest.raises(ParameterError, match=r"'n' = 0.*\(in f\.yml\)"):
        Demo.from_mapping({"n": 0}, source="f.yml")
    assert Demo.from_mapping({"n": 4}).n == 4
    ns = {"n": 7, "unrelated": object(), "maybe": 2}
    assert Demo.from_namespace(ns).n == 7


def test_params_are_pydantic_dataclasses_and_replace_validates():
    p = Demo()
    assert is_pydantic_dataclass(Demo) and dataclasses.replace(p, n=5).n == 5
    with pytest.raises(ParameterError, match="'n' must be of type integer"):
        dataclasses.replace(p, n=0.5)
    with pytest.raises(ParameterError, match="'n' = 0: must be >= 1"):
        dataclasses.replace(p, n=0)
    for name in CHAPTERS:
        assert is_pydantic_dataclass(params_class(name)), name


def test_a_params_class_declared_with_the_standard_dataclass_is_refused():
    @dataclass(kw_only=True)
    class Unchecked(ChapterParams):
        n: int = 3

    with pytest.raises(TypeError, match="params_dataclass"):
        Unchecked(n=0.5)


def test_json_schema_of_params_types_defaults_descriptions():
    schema = Demo.json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False and schema["title"] == "99_demo parameters"
    assert list(props) == Demo.names()
    assert props["n"]["type"] == "integer" and props["n"]["default"] == 3
    assert props["rate"]["type"] == "number" and props["grid"]["default"] == [0.1, 10.0, 5.0]
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["per_model"]["additionalProperties"] == {"type": "integer"}
    assert props["n"]["description"] == "how many."
    assert props["grid"]["description"] == "the rate and its log grid."
    assert props["flag"]["description"] == "a switch."
    assert props["device"]["description"].startswith("`\"auto\"`")
    jsonschema.validate({"n": 4, "rate": 1, "mode": "slow"}, schema)
    for bad in ({"nn": 4}, {"n": 0.5}, {"n": "4"}, {"mode": "medium"}, {"device": "gpu"},
                {"per_model": {"a": "x"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_verdict_requires_reason_and_known_word():
    assert Verdict("C1", "reproduced", "x").line() == "C1: reproduced"
    assert Verdict("C1", "partly", "x", "because 3 < 4").line() == "C1: partly (because 3 < 4)"
    with pytest.raises(ValueError, match="needs a reason"):
        Verdict("C1", "partly", "x")
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("C1", "maybe", "x", "y")


def test_inconclusive_needs_the_deciding_scale_and_is_recorded(tmp_path):
    with pytest.raises(ValueError, match="needed"):
        Verdict("C16", INCONCLUSIVE, "x", "no run left the uniform phase")
    v = inconclusive("C16", "0 of 6 runs left the uniform phase",
                     "no alpha < 1 run left the uniform phase within 400 steps",
                     "about 1,700 steps at alpha = 0.001: 12 min on this CPU",
                     quote='"staircase" (Fig. 8)', definition="trains: entropy < 0.9 log K")
    assert v.verdict == INCONCLUSIVE and v.line().startswith("C16: inconclusive at this scale (")
    record_verdict(v, Demo(results_dir=str(tmp_path)), evidence="Fig. 8", data_source="s")
    rec = load_claims(tmp_path)["C16"]
    assert rec["needed"].startswith("about 1,700 steps")
    assert rec["quote"] == '"staircase" (Fig. 8)' and rec["definition"].startswith("trains")


def test_claim_ids_of_the_book_own_findings():
    assert Verdict("B1", "reproduced", "x").claim == "B1"
    with pytest.raises(ValueError, match="claim id"):
        Verdict("X1", "reproduced", "x")


def _verdict_with_quote():
    """Checks the staircase.

    Paper (Section 5, p. 7): "the maximal trainable
    learning rate is linear in alpha"
    """


def test_paper_quote_reads_the_docstring():
    assert paper_quote(_verdict_with_quote) == (
        '"the maximal trainable learning rate is linear in alpha" (Section 5, p. 7)')
    with pytest.raises(ValueError, match="no 'Paper"):
        paper_quote(test_paper_quote_reads_the_docstring)


def test_seed_agreement_counts():
    assert seed_agreement({0: True, 1: False, 2: True}) == "2 of 3 seeds"
    with pytest.raises(ValueError):
        seed_agreement({})


def test_verdict_over_seeds_takes_the_majority_and_names_each_seed():
    R, P, N = "reproduced", "partly", "not reproduced"

    def v(verdict, claim="C21", why="w", needed=""):
        return Verdict(claim, verdict, f"m-{verdict}", "" if verdict == R else why,
                       {"x": 1}, key="k", quote="q", definition="d",
                       needed="n" if verdict == INCONCLUSIVE else needed)

    out = verdict_over_seeds({0: v(R), 1: v(R), 2: v(N, why="fails")})
    assert out.verdict == R and out.why == ""
    assert out.values["agreement"] == "2 of 3 seeds reproduced"
    assert out.values["per_seed"]["2"] == {"verdict": N, "why": "fails", "values": {"x": 1}}
    assert "seed 2 (not reproduced): m-not reproduced" in out.measured
    assert (out.quote, out.definition, out.claim) == ("q", "d", "C21")
    out = verdict_over_seeds({0: v(N, why="a"), 1: v(R), 2: v(N, why="b")})
    assert out.verdict == N and out.why == "2 of 3 seeds not reproduced; seed 0: a; seed 2: b"
    # no majority: a seed for and a seed against -> partly; for and undecided -> inconclusive
    out = verdict_over_seeds({0: v(R), 1: v(N), 2: v(INCONCLUSIVE)})
    assert out.verdict == P and out.why.startswith("the seeds disagree (seed 0: reproduced")
    out = verdict_over_seeds({0: v(R), 1: v(INCONCLUSIVE)})
    assert out.verdict == INCONCLUSIVE and out.needed == "n"
    out = verdict_over_seeds({0: v(P), 1: v(INCONCLUSIVE), 2: v(INCONCLUSIVE)})
    assert out.verdict == INCONCLUSIVE and out.values["counts"] == {P: 1, INCONCLUSIVE: 2}
    assert verdict_over_seeds({5: v(P)}).verdict == P
    with pytest.raises(ValueError, match="at least one seed"):
        verdict_over_seeds({})
    with pytest.raises(ValueError, match="different claims"):
        verdict_over_seeds({0: v(R), 1: v(R, claim="C22")})


def test_verdict_from_checks_every_branch():
    v = verdict_from_checks("C4", {"a": True, "b": True}, "m")
    assert v.verdict == "reproduced" and v.why == ""
    v = verdict_from_checks("C4", {"a": True, "b": False}, "m", core=("a",))
    assert v.verdict == "partly" and v.why == "failed: b"
    v = verdict_from_checks("C4", {"a": False, "b": True}, "m", core=("a",))
    assert v.verdict == "not reproduced" and "a" in v.why
    v = verdict_from_checks("C4", {"a": False, "b": True}, "m")
    assert v.verdict == "partly"
    v = verdict_from_checks("C4", {"a": False, "b": False}, "m")
    assert v.verdict == "not reproduced" and v.why == "failed: a; b"


def test_record_verdict_writes_the_claim(tmp_path):
    p = Demo(results_dir=str(tmp_path), profile="mine")
    record_verdict(Verdict("C9", "partly", "rho 0.5", "rho 0.5 < 0.9", {"rho": 0.5}), p,
                   evidence="Fig. X", data_source="synthetic")
    rec = load_claims(tmp_path)["C9"]
    assert rec["verdict"] == "partly" and rec["why"] == "rho 0.5 < 0.9"
    assert rec["parameters"]["n"] == 3 and rec["profile"] == "mine"



@pytest.mark.parametrize("name", notebook_names(ROOT))
def test_parameters_cell_equals_declared_defaults(name):
    assert name in CHAPTERS, f"notebook {name} has no chapter module in goldilocks_nb.chapters"
    cls = params_class(name)
    assert_no_inline_comments(ROOT / "notebooks" / f"{name}.ipynb")
    cell = notebook_parameters(ROOT / "notebooks" / f"{name}.ipynb")
    defaults = cls().as_dict()
    assert set(cell) == set(defaults), (
        f"{name}: parameters cell and {cls.__module__}.Params declare different names: "
        f"only in cell {sorted(set(cell) - set(defaults))}, "
        f"only declared {sorted(set(defaults) - set(cell))}")
    assert cls.from_mapping(cell).as_dict() == defaults


def test_a_required_parameter_is_named():
    @params_dataclass
    class Needs(ChapterParams):
        notebook = "98_needs"
        n: int

    assert Needs(n=2).n == 2
    with pytest.raises(ParameterError, match=r"^parameter 'n' is required \(of type integer\)$"):
        Needs()
