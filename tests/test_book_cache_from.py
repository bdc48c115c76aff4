"""``book build/execute --cache-from DIR`` (``make book BOOK_CACHE=DIR``): the smoke book in CI
starts from the cache that the nbval pass under the current settings wrote and checked."""

from __future__ import annotations

import pytest

from goldilocks_nb import book
from goldilocks_nb.book import BookError, main, seed_cache
from goldilocks_nb.results import cached
from test_book import repo_copy


def _fail():
    raise AssertionError("recomputed: the seeded cache entry was not used")


def test_seed_cache_copies_missing_entries_and_keeps_the_others(tmp_path):
    src, dst = tmp_path / "kept", tmp_path / "results"
    cached("probe", {"a": 1}, lambda: {"value": 1.0}, cache_dir=src / "cache")
    cached("probe", {"a": 2}, lambda: {"value": 2.0}, cache_dir=src / "cache")
    cached("probe", {"a": 2}, lambda: {"value": 2.0}, cache_dir=dst / "cache")
    (src / "cache" / ".probe-partial.tmp").write_text("a temporary file")
    runs = src / "cache" / "04_runs" / "training"  # a run store: a sub-folder of the cache
    runs.mkdir(parents=True)
    (runs / "run-abc.npz").write_bytes(b"a run record")
    (runs / ".run-abc.npz.x.tmp").write_bytes(b"a writer's temporary file")
    mine = {p.name: p.stat().st_mtime_ns for p in (dst / "cache").iterdir()}

    assert seed_cache(src, dst) == 2  # a=1 and the run record; a=2 was there already
    files = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    assert files == {p.relative_to(src).as_posix() for p in src.rglob("*")
                     if p.is_file() and not p.name.startswith(".")}
    assert (dst / "cache" / "04_runs" / "training" / "run-abc.npz").read_bytes() == \
        b"a run record"
    assert all((dst / "cache" / n).stat().st_mtime_ns == t for n, t in mine.items())
    # the copied entry is read (key and checksum verified) instead of recomputed
    assert cached("probe", {"a": 1}, _fail, cache_dir=dst / "cache") == {"value": 1.0}
    assert seed_cache(src, dst) == 0


def test_seed_cache_names_a_folder_without_cache(tmp_path):
    with pytest.raises(BookError, match=r"--cache-from .*no cache folder"):
        seed_cache(tmp_path / "nothing", tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_execute_with_cache_from_seeds_before_every_chapter_runs(tmp_path, monkeypatch):
    """The runner copies the entries into the profile's results folder before executing,
    then executes every chapter as without the option (chapter runs replaced here)."""
    root = repo_copy(tmp_path)
    results = tmp_path / "res"
    prof = tmp_path / "p.yml"
    prof.write_text(f"common:\n  results_dir: {results}\n")
    kept = tmp_path / "kept"
    cached("probe", {"a": 1}, lambda: [1, 2, 3], cache_dir=kept / "cache")
    seen = {}

    def fake_run(root_, jobs, workers, done, *args):
        seen["names"] = [j[0] for j in jobs]
        seen["cache"] = sorted(p.name for p in (results / "cache").iterdir())
        return {j[0]: 0.0 for j in jobs}

    monkeypatch.setattr(book, "_run_chapters", fake_run)
    assert main(["execute", "--profile", str(prof), "--root", str(root),
                 "--cache-from", str(kept)]) == 0
    assert seen["names"] == book.notebook_names(root)
    assert seen["cache"] == sorted(p.name for p in (kept / "cache").iterdir())
    assert cached("probe", {"a": 1}, _fail, cache_dir=results / "cache") == [1, 2, 3]

    with pytest.raises(BookError, match="no cache folder"):
        main(["execute", "--profile", str(prof), "--root", str(root),
              "--cache-from", str(tmp_path / "missing")])
