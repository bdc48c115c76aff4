"""The reproduction scorecard: one row per claim C1-C27, generated from result files.

Claim texts, short statements and the chapters that test them come from
``book/claims.yml``; measured values, verdicts, parameters and data sources come from the
JSON files the chapters write with :func:`goldilocks_nb.results.record_claim`. A claim with
no result file says "not yet run". Nothing here is typed by hand.

The page has two parts, written as MyST Markdown for Jupyter Book:

* a summary table (``{list-table}`` with class ``scorecard-summary``) narrow enough for a
  1,400 px window: claim id, short statement, the verdict as a text badge (a coloured
  ``<span class="verdict ...">`` styled by ``book/_static/custom.css``, no emoji), the key
  measured number and a link to the chapter page that produced it;
* one collapsed ``{dropdown}`` per claim with everything else: the full statement, the
  reason for the verdict, all measured values, the parameters as run, the profile, the
  data source and the environment.
"""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

import yaml

from .contract import INCONCLUSIVE
from .results import load_claims

__all__ = ["key_number", "load_claim_list", "md_escape", "render_scorecard", "verdict_badge"]

NOT_RUN = "not yet run"
_ORDER = ("reproduced", "partly", "not reproduced", INCONCLUSIVE, NOT_RUN)
_CSS_CLASS = {
    "reproduced": "verdict-reproduced",
    "partly": "verdict-partly",
    "not reproduced": "verdict-not-reproduced",
    INCONCLUSIVE: "verdict-inconclusive",
    NOT_RUN: "verdict-not-run",
}
#: Longest key number shown in the summary table (characters, before the ellipsis).
KEY_LIMIT = 90
_REQUIRED = ("id", "title", "short", "where", "chapter")
#: Marks escaped by md_escape: all ASCII punctuation that Markdown, MyST or dollarmath read.
_PUNCT = set(string.punctuation) - set(",;/=%@?'\"")


def load_claim_list(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The claims ``[{id, title, short, where, chapter[, notebook]}, ...]`` of ``claims.yml``.

    Raises:
        ValueError: on a duplicate id or an entry without one of the required fields.
    """
    items = yaml.safe_load(Path(path).read_text())["claims"]
    ids = [c.get("id") for c in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids in {path}")
    for c in items:
        missing = [k for k in _REQUIRED if not c.get(k)]
        if missing:
            raise ValueError(f"claim {c.get('id', '?')} in {path} lacks {', '.join(missing)}")
    return items


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown: ASCII punctuation with a meaning backslash-escaped.

    CommonMark allows escaping any ASCII punctuation, so claim texts such as
    ``||G||_2 >~ ||H||_2`` or ``$`` never turn into emphasis, HTML, math or list markers.
    """
    return "".join("\\" + ch if ch in _PUNCT else ch for ch in " ".join(str(text).split()))


def verdict_badge(verdict: str) -> str:
    """The verdict as an inline HTML badge: a coloured box with the word in it."""
    css = _CSS_CLASS.get(verdict)
    if css is None:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {_ORDER}")
    return f'<span class="verdict {css}">{verdict}</span>'


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def key_number(record: dict[str, Any], limit: int = KEY_LIMIT) -> str:
    """The number the summary table shows for a claim record.

    The record's own ``key`` (top level, or in ``values``) when it has one, else the first
    clause of ``measured`` (up to the first ``;``), shortened to ``limit`` characters at a
    word boundary with an ellipsis.
    """
    key = record.get("key") or (record.get("values") or {}).get("key")
    text = str(key) if key else str(record.get("measured", "")).split(";")[0]
    return _shorten(text, limit) or "—"


def _value_md(value: Any) -> str:
    """A measured value or parameter as inline code (JSON for lists and mappings).

    Inline code keeps quotes straight (no smart quotes) and needs no escaping; a value
    containing backticks falls back to escaped text.
    """
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    text = " ".join(text.split())
    return md_escape(text) if "`" in text else f"`` {text} ``"


def _chapter_cell(claim: dict[str, Any], record: dict[str, Any] | None,
                  chapters_dir: Path) -> str:
    """A link to the chapter page when the claim was run there, else the chapter's name."""
    name = md_escape(claim["chapter"])
    nb = claim.get("notebook")
    if record is not None and nb and (chapters_dir / f"{nb}.ipynb").exists():
        label = md_escape(str(claim["chapter"]).replace("(planned)", "").strip())
        return f"[{label}](chapters/{nb}.ipynb)"
    return name


def _summary_table(claims: list[dict[str, Any]], records: dict[str, dict[str, Any]],
                   chapters_dir: Path) -> list[str]:
    lines = [
        "```{list-table}",
        ":header-rows: 1",
        ":class: scorecard-summary",
        ":widths: 7 29 16 33 15",
        "",
        "* - Claim",
        "  - Statement",
        "  - Verdict",
        "  - Key number",
        "  - Chapter",
    ]
    for c in claims:
        r = records.get(c["id"])
        verdict = r["verdict"] if r else NOT_RUN
        lines += [
            f"* - {{ref}}`{c['id']} <{_anchor(c['id'])}>`",
            f"  - {md_escape(c['short'])}",
            f"  - {verdict_badge(verdict)}",
            f"  - {md_escape(key_number(r)) if r else '—'}",
            f"  - {_chapter_cell(c, r, chapters_dir)}",
        ]
    lines.append("```")
    return lines


def _anchor(claim_id: str) -> str:
    return f"claim-{claim_id.lower()}"


def _details(claim: dict[str, Any], record: dict[str, Any] | None,
             chapters_dir: Path) -> list[str]:
    verdict = record["verdict"] if record else NOT_RUN
    title = f"{claim['id']} · {verdict} · {md_escape(claim['short'])}"
    lines = [
        f"::::{{dropdown}} {title}",
        f":name: {_anchor(claim['id'])}",
        ":class-container: scorecard-details",
        "",
        f"**Statement** ({md_escape(claim['where'])}): {md_escape(claim['title'])}",
        "",
        f"**Chapter:** {_chapter_cell(claim, record, chapters_dir)}",
        "",
    ]
    if record is None:
        lines += [f"**Verdict:** {verdict_badge(NOT_RUN)} (no result file for this claim)",
                  "", "::::"]
        return lines
    lines += [f"**Verdict:** {verdict_badge(verdict)}"
              + (f" {md_escape(record['why'])}" if record.get("why") else ""), ""]
    if record.get("needed"):
        lines += [f"**What would decide it:** {md_escape(record['needed'])}", ""]
    if record.get("quote"):
        lines += [f"**The paper says:** {md_escape(record['quote'])}", ""]
    if record.get("definition"):
        lines += [f"**How this book checks it:** {md_escape(record['definition'])}", ""]
    lines += [f"**Measured:** {md_escape(record['measured'])}", ""]
    lines += [f"**Evidence:** {md_escape(record.get('evidence', '—'))}", ""]
    values = record.get("values") or {}
    if values:
        lines += ["**All measured values:**", ""]
        lines += [f"- `{k}`: {_value_md(v)}" for k, v in values.items()]
        lines.append("")
    params = record.get("parameters") or {}
    if params:
        lines += ["**Parameters as run:**", ""]
        lines += [f"- `{k}` = {_value_md(v)}" for k, v in params.items()]
        lines.append("")
    lines += [f"**Profile:** {md_escape(record.get('profile', '—'))}", "",
              f"**Data source:** {md_escape(record.get('data_source', '—'))}", ""]
    env = record.get("environment") or {}
    if env or record.get("written"):
        facts = ", ".join(f"{k} {v}" for k, v in env.items())
        lines += [f"**Run:** {md_escape(record.get('written', ''))}"
                  + (f" ({md_escape(facts)})" if facts else ""), ""]
    lines.append("::::")
    return lines


def render_scorecard(claims_yml: str | os.PathLike, results_dir: str | os.PathLike,
                     profile: str) -> str:
    """MyST Markdown for the scorecard page from the claim list and the result files.

    Chapter links point at ``chapters/<notebook>.ipynb`` beside ``claims_yml`` and are
    written only for claims that have a result file and whose chapter page exists.
    """
    claims = load_claim_list(claims_yml)
    records = load_claims(results_dir, chapters={
        c["id"]: c["chapter"] + (f" (notebooks/{c['notebook']}.ipynb)" if c.get("notebook")
                                 else "") for c in claims})
    chapters_dir = Path(claims_yml).parent / "chapters"
    unknown = sorted(set(records) - {c["id"] for c in claims})
    if unknown:
        raise ValueError(f"result files for claims not in {claims_yml}: {', '.join(unknown)}")
    counts = dict.fromkeys(_ORDER, 0)
    for c in claims:
        counts[records[c["id"]]["verdict"] if c["id"] in records else NOT_RUN] += 1
    summary = ", ".join(f"{verdict_badge(k)} {n}" for k, n in counts.items() if n)
    lines = [
        "# Reproduction scorecard",
        "",
        f"Generated by `make book` from the result files the chapters wrote "
        f"(profile **{profile}**; folder `{Path(results_dir).as_posix()}`). "
        "Each row is one claim of `CLAIMS.md` (C1-C27), or a finding of the book's own "
        "beyond the papers (B-ids); the measured value, parameters, data and "
        "verdict are read from the chapter's result file, never typed by hand. A claim "
        "whose chapter has not been written or run says *not yet run*. "
        f"*{INCONCLUSIVE.capitalize()}* means the run cannot resolve the effect at its "
        "size; the claim's details say which size would, and what it costs.",
        "",
        f"**Summary:** {summary}",
        "",
        "The table gives one number per claim; click a claim id (or open its block "
        "under *Details*) for the full statement, the reason for the verdict, every "
        "measured value and the parameters it was run with.",
        "",
        *_summary_table(claims, records, chapters_dir),
        "",
        "## Details",
        "",
    ]
    for c in claims:
        lines += _details(c, records.get(c["id"]), chapters_dir)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
