"""Reading a chapter notebook's ``parameters`` cell, shared by the chapter tests."""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def parameters_source(path: Path) -> str:
    """The source of the one cell tagged ``parameters`` (asserts there is exactly one)."""
    nb = json.loads(Path(path).read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{Path(path).name}: exactly one cell tagged 'parameters'"
    return "".join(cells[0]["source"])


def notebook_parameters(path: Path) -> dict:
    """The cell's assignments, literally evaluated (asserts plain assignments only)."""
    values = {}
    for node in ast.parse(parameters_source(path)).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, (
            f"{Path(path).name}: the parameters cell holds plain assignments only")
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def assert_no_inline_comments(path: Path) -> None:
    """papermill cannot parse ``x = 1  # comment``: comments go on their own lines."""
    for line in parameters_source(path).splitlines():
        code = line.split("#", 1)[0]
        assert not (code.strip() and "#" in line), (
            f"{Path(path).name}: inline comment in the parameters cell (papermill cannot parse "
            f"it): {line!r}")


def assert_thin_notebook(path: Path, module, *, alias: str = "ch", max_lines: int = 150) -> None:
    """The chapter contract for a notebook: every ``<alias>.name`` it uses is in the module's
    ``__all__``, no ``def``, no warning filters, at most ``max_lines`` code lines (non-blank,
    non-comment)."""
    import re

    nb = json.loads(Path(path).read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    used = set(re.findall(rf"\b{alias}\.([A-Za-z_]\w*)", code))
    assert used and used <= set(module.__all__), used - set(module.__all__)
    assert "def " not in code and "warnings" not in code
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= max_lines, len(lines)
