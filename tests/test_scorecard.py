"""The scorecard page: summary table, badges, key numbers, chapter links, details blocks."""

import shutil
from pathlib import Path

import pytest

from goldilocks_nb.contract import INCONCLUSIVE
from goldilocks_nb.results import record_claim
from goldilocks_nb.scorecard import (
    KEY_LIMIT,
    key_number,
    load_claim_list,
    md_escape,
    render_scorecard,
    verdict_badge,
)

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_YML = ROOT / "book" / "claims.yml"


def _record(results, claim="C3", verdict="reproduced", why="", measured="max rel. error 1e-12",
            values=None):
    return record_claim(claim, measured=measured, verdict=verdict, why=why,
                        evidence="Eq. 5 check", parameters={"alphas": [0.1, 1, 10], "seed": 0},
                        profile="smoke", data_source="Fashion-MNIST (embedded)",
                        results_dir=results, values=values)


@pytest.fixture
def book(tmp_path):
    """A copy of claims.yml in ``tmp/book`` with chapter pages for 01 and 03 only."""
    (tmp_path / "book" / "chapters").mkdir(parents=True)
    shutil.copy(CLAIMS_YML, tmp_path / "book" / "claims.yml")
    for nb in ("01_rescaling_symmetry", "03_gamma_p"):
        (tmp_path / "book" / "chapters" / f"{nb}.ipynb").write_text("{}")
    return tmp_path / "book" / "claims.yml", tmp_path / "results"


def _rows(text):
    """The summary table's rows: ``{claim id: [5 cell strings]}``."""
    table = text.split("```{list-table}")[1].split("```")[0]
    rows, current = {}, None
    for line in table.splitlines():
        if line.startswith("* - "):
            current = [line[4:]]
            rows[len(rows)] = current
        elif line.startswith("  - ") and current is not None:
            current.append(line[4:])
    header, *body = rows.values()
    assert header == ["Claim", "Statement", "Verdict", "Key number", "Chapter"]
    return {r[0].split("`")[1].split()[0]: r for r in body}


def test_claim_list_has_all_27_with_short_statements():
    claims = load_claim_list(CLAIMS_YML)
    paper = [c["id"] for c in claims if c["id"].startswith("C")]
    assert paper == [f"C{i}" for i in range(1, 28)]
    own = [c for c in claims if not c["id"].startswith("C")]
    assert all(c["id"].startswith("B") and c.get("source") == "book" for c in own)
    for c in claims:
        assert len(c["short"]) <= 50, c["id"]


def test_claim_notebooks_exist():
    names = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for c in load_claim_list(CLAIMS_YML):
        if "notebook" in c:
            assert c["notebook"] in names, (c["id"], c["notebook"])
        else:
            assert "(planned)" in c["chapter"], c["id"]


def test_claim_list_rejects_missing_field_and_duplicates(tmp_path):
    bad = tmp_path / "claims.yml"
    bad.write_text("claims:\n  - {id: C1, title: t, where: w, chapter: c}\n")
    with pytest.raises(ValueError, match="C1 .* lacks short"):
        load_claim_list(bad)
    bad.write_text("claims:\n  - {id: C1, title: t, short: s, where: w, chapter: c}\n"
                   "  - {id: C1, title: t, short: s, where: w, chapter: c}\n")
    with pytest.raises(ValueError, match="duplicate"):
        load_claim_list(bad)


def test_all_not_yet_run(book):
    claims_yml, results = book
    text = render_scorecard(claims_yml, results, "smoke")
    rows = _rows(text)
    ids = [c["id"] for c in load_claim_list(claims_yml)]
    assert list(rows) == ids  # the paper's C1-C27 and the book's B<n>, in claims.yml order
    assert [i for i in ids if i.startswith("C")] == [f"C{i}" for i in range(1, 28)]
    shorts = {c["id"]: md_escape(c["short"]) for c in load_claim_list(claims_yml)}
    for cid, (claim, short, verdict, key, chapter) in rows.items():
        assert claim == f"{{ref}}`{cid} <claim-{cid.lower()}>`" and short == shorts[cid]
        assert "verdict-not-run" in verdict and ">not yet run<" in verdict
        assert key == "—" and "](" not in chapter
    assert text.count("{dropdown}") == len(ids)
    assert ':name: claim-c27' in text
    assert f"not yet run</span> {len(ids)}" in text
    assert "✅" not in text and "❌" not in text and "🟡" not in text


def test_filled_rows_badges_links_and_details(book):
    claims_yml, results = book
    _record(results, "C3", values={"max_rel_error": 1e-12, "alphas": [0.1, 10], "note": "a`b"})
    _record(results, "C5", verdict="not reproduced", why="zone bounds differ by 2x")
    _record(results, "C7", verdict="partly", why="d=30 dips", measured="slope 0.8; rest")
    _record(results, "C13", verdict="partly", why="planned chapter ran", measured="x")
    text = render_scorecard(claims_yml, results, "smoke")
    rows = _rows(text)
    assert 'class="verdict verdict-reproduced">reproduced<' in rows["C3"][2]
    assert "verdict-not-reproduced" in rows["C5"][2]
    assert "verdict-partly" in rows["C7"][2]
    assert rows["C3"][3] == md_escape("max rel. error 1e-12")
    assert rows["C7"][3] == "slope 0\\.8"
    # a link only where the claim was run and its chapter page exists
    assert rows["C3"][4] == "[01 Rescaling symmetry](chapters/01_rescaling_symmetry.ipynb)"
    assert "](" not in rows["C7"][4]  # 02 page absent in this book
    assert "](" not in rows["C8"][4]  # 03 page present but C8 not run
    assert "](" not in rows["C13"][4]  # page absent
    assert "reproduced</span> 1, " in text and "partly</span> 2" in text
    n_claims = len(load_claim_list(claims_yml))
    assert f"not yet run</span> {n_claims - 4}" in text
    details = text.split(":name: claim-c3")[1].split("::::")[0]
    for part in ("`max_rel_error`: `` 1e-12 ``", "`alphas` = `` [0.1, 1, 10] ``",
                 "`seed` = `` 0 ``", "Fashion\\-MNIST \\(embedded\\)", "**Profile:** smoke",
                 "torch"):
        assert part in details, part
    assert "`note`: a\\`b" in details
    details5 = text.split(":name: claim-c5")[1].split("::::")[0]
    assert "zone bounds differ by 2x" in details5


def test_link_for_planned_chapter_label_drops_planned(book):
    claims_yml, results = book
    (claims_yml.parent / "chapters" / "02_random_logit_model.ipynb").write_text("{}")
    _record(results, "C13", verdict="partly", why="w", measured="x")
    rows = _rows(render_scorecard(claims_yml, results, "smoke"))
    assert rows["C13"][4] == "[02 Random logit model](chapters/02_random_logit_model.ipynb)"


def test_record_for_unknown_claim_is_an_error(book):
    claims_yml, results = book
    _record(results, "C99")
    with pytest.raises(ValueError, match="C99"):
        render_scorecard(claims_yml, results, "smoke")


def test_key_number_prefers_key_and_shortens():
    assert key_number({"measured": "a; b", "key": "slope 2.01"}) == "slope 2.01"
    assert key_number({"measured": "a; b", "values": {"key": 3.5}}) == "3.5"
    assert key_number({"measured": "first clause; second"}) == "first clause"
    assert key_number({"measured": ""}) == "—"
    long = "max relative error " + "across many alphas and temperatures " * 4
    short = key_number({"measured": long})
    assert len(short) <= KEY_LIMIT + 1 and short.endswith("…") and " " not in short[-2:]
    assert long.startswith(short[:-1])
    nospace = "x" * 200
    assert key_number({"measured": nospace}) == "x" * KEY_LIMIT + "…"


def test_md_escape_neutralises_markdown():
    assert md_escape("||G||_2 >~ $a$ *b* <i>") == (
        "\\|\\|G\\|\\|\\_2 \\>\\~ \\$a\\$ \\*b\\* \\<i\\>")
    assert md_escape("two\nlines  here") == "two lines here"
    assert md_escape("-1 leading") == "\\-1 leading"


def test_inconclusive_row_shows_badge_quote_definition_and_scale(book):
    claims_yml, results = book
    record_claim("C16", measured="0 of 6 runs left the uniform phase", verdict=INCONCLUSIVE,
                 why="no alpha < 1 run left the uniform phase", evidence="Fig. 8",
                 parameters={}, profile="smoke", data_source="x", results_dir=results,
                 quote='"the staircase" (Section 5)', definition="trains: entropy below log K",
                 needed="1,700 steps: 12 min on this CPU")
    text = render_scorecard(claims_yml, results, "smoke")
    assert 'class="verdict verdict-inconclusive">inconclusive at this scale</span>' in text
    assert f"**What would decide it:** {md_escape('1,700 steps: 12 min')}" in text
    assert f"**The paper says:** {md_escape(chr(34) + 'the staircase')}" in text
    assert f"**How this book checks it:** {md_escape('trains: entropy below log K')}" in text


def test_verdict_badge():
    assert verdict_badge("partly") == '<span class="verdict verdict-partly">partly</span>'
    with pytest.raises(ValueError, match="unknown verdict"):
        verdict_badge("yes")
