"""Regenerate the small real-data subsets committed under data/embedded/.

    python scripts/make_embedded.py --root /path/to/data-root

The root holds the full datasets in any layout that goldilocks_nb.data accepts. For each
class the first examples in the source's own order are kept (no randomness): Fashion-MNIST
200 train + 50 test per class, CIFAR-10 100 train + 20 test per class. Images stay uint8;
data/embedded/SHA256SUMS is rewritten.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys

import numpy as np

from goldilocks_nb.data import _load_real, embedded_dir

SIZES = {
    "fashion-mnist": ("fashion-mnist-small.npz", {"train": 200, "test": 50}),
    "cifar10": ("cifar10-small.npz", {"train": 100, "test": 20}),
}


def first_per_class(y: np.ndarray, per_class: int) -> np.ndarray:
    return np.sort(np.concatenate([np.flatnonzero(y == k)[:per_class] for k in range(10)]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", required=True, help="folder with the full datasets")
    args = ap.parse_args(argv)
    out = embedded_dir()
    out.mkdir(parents=True, exist_ok=True)
    sums = []
    for name, (fname, per_class) in SIZES.items():
        arrays, source, _ = _load_real(name, args.root, download=False)
        keep = {}
        for split, k in per_class.items():
            idx = first_per_class(arrays[f"y_{split}"], k)
            keep[f"x_{split}"] = arrays[f"x_{split}"][idx]
            keep[f"y_{split}"] = arrays[f"y_{split}"][idx]
            keep[f"index_{split}"] = idx
        desc = (f"{source}: embedded subset, first {per_class['train']} train and "
                f"{per_class['test']} test images per class")
        buf = io.BytesIO()
        np.savez_compressed(buf, source=np.array(desc), **keep)
        (out / fname).write_bytes(buf.getvalue())
        sums.append(f"{hashlib.sha256(buf.getvalue()).hexdigest()}  {fname}")
        print(f"{fname}: {len(buf.getvalue()) / 1e6:.2f} MB  ({desc})")
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
