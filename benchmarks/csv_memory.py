"""Peak memory of reading a large CSV the nnexp way, against a naive pandas reference.

Writes a CSV of float columns and a class column (about 1 GB by default, in a temporary folder),
then measures, each in a fresh subprocess so every figure is that process's own peak RSS
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`):

- ``baseline``: the interpreter with numpy, pandas and nnexp.data imported, no data read;
- ``naive``: ``pandas.read_csv(path)`` then ``.to_numpy()`` (the reference);
- ``naive+float32``: the same, then ``.astype(float32)``, the model's dtype: three copies;
- ``nnexp read``: the table as nnexp reads it (``read_csv_table``: chunks of rows parsed to
  float64 into one preallocated array);
- ``nnexp load``: ``load_dataset("csv", ...)``: read, split (seeded, stratified), standardised
  and cast to float32 train/val/test arrays, what training gets.

Each line gives the peak, the peak above the baseline, and both against the file's size and
against the naive reference measured in the same run. The file's rows repeat a block of
distinct random rows (formatting text is the slow part of writing it; the readers parse every
byte either way).

Usage::

    python benchmarks/csv_memory.py            # about 1 GB
    python benchmarks/csv_memory.py --mb 200   # a smaller file
    python benchmarks/csv_memory.py --keep DIR # write (or reuse) the CSV in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 20
BLOCK_ROWS = 50_000

MEASURE = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
import nnexp.data
path, how = sys.argv[1], sys.argv[2]
start = time.perf_counter()
shape = None
if how == "naive":
    shape = pd.read_csv(path).to_numpy().shape
elif how == "naive+float32":
    shape = pd.read_csv(path).to_numpy().astype(np.float32).shape
elif how == "nnexp read":
    from nnexp.data.table_sources import read_csv_table
    from nnexp.data.tables import TableSpec
    shape = read_csv_table(path, TableSpec("y"), ",").X.shape
elif how == "nnexp load":
    ds = nnexp.data.load_dataset("csv", rng_seed=0, path=path, target="y", dtype="float32")
    shape = (ds.X_train.shape[0] + ds.X_val.shape[0] + ds.X_test.shape[0], ds.n_features)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak": peak, "seconds": seconds, "shape": shape}))
"""

WAYS = ("baseline", "naive", "naive+float32", "nnexp read", "nnexp load")


def write_csv(path: Path, target_bytes: int) -> int:
    """A CSV of N_FEATURES float columns and a class column `y`; its number of rows."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BLOCK_ROWS, N_FEATURES))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    lines = [",".join(map(repr, row)) + f",{label}\n" for row, label in zip(
        X.tolist(), y.tolist(), strict=True)]
    block = "".join(lines).encode()
    header = (",".join(f"f{i}" for i in range(N_FEATURES)) + ",y\n").encode()
    repeats = max(1, round(target_bytes / len(block)))
    with open(path, "wb") as handle:
        handle.write(header)
        for _ in range(repeats):
            handle.write(block)
    return repeats * BLOCK_ROWS


def measure(path: Path, how: str) -> dict[str, float]:
    """One way of reading, in a fresh interpreter; its peak RSS in bytes and its seconds."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), how], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{how} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1024.0, help="size of the CSV in MiB")
    parser.add_argument("--keep", type=Path, help="folder to write (or reuse) the CSV in")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nnexp-csv-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"table_{int(args.mb)}mb.csv"
    if not path.exists():
        started = time.perf_counter()
        rows = write_csv(path, int(args.mb * 2**20))
        print(f"wrote {path} ({rows} rows x {N_FEATURES + 1} columns) in "
              f"{time.perf_counter() - started:.0f} s")
    size = path.stat().st_size
    print(f"file: {size / 2**20:.0f} MiB; its numbers as float64: {_values(path) / 2**20:.0f} MiB")
    results = {how: measure(path, how) for how in WAYS}
    base, naive = results["baseline"]["peak"], results["naive"]["peak"]
    print(f"{'way':<15}{'peak RSS':>11}{'above baseline':>16}{'/ file size':>13}"
          f"{'/ naive':>9}{'seconds':>9}")
    for how, found in results.items():
        above = found["peak"] - base
        print(f"{how:<15}{found['peak'] / 2**20:>8.0f} MiB{above / 2**20:>12.0f} MiB"
              f"{above / size:>13.2f}{(above / (naive - base)) if how != 'baseline' else 0:>9.2f}"
              f"{found['seconds']:>9.1f}")
    if args.keep is None:
        path.unlink()
        folder.rmdir()


def _values(path: Path) -> int:
    """Bytes of the file's numbers as float64: rows x columns x 8."""
    with open(path, "rb") as handle:
        columns = handle.readline().count(b",") + 1
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
    return rows * columns * 8


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
