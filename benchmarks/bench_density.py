"""Benchmark: how the density stage's cost grows with the reference set, on the CPU.

For reference sets of N synthetic features of CLIP ViT-B-32's dimension (512; Gaussian
clusters, so neighbours are not uniform noise) and M generated queries, each measured in a
fresh process (its peak resident memory during the operation, less what it held before: the
features and the index; Linux's VmHWM, reset first):

- the exact kNN of the queries (``exact_knn``, k = 20: FAISS candidates recomputed in float64);
- the queries' Gaussian KDE log-density (``kde_log_density``, float64 over all N);
- the queries' Naeem counts (``ball_counts``: a FAISS range search, given the radii);
- the reference set's own NND_k radii (``reference_radii``: N queries against N, the one N²
  step), at the smaller sizes only (``--radii-up-to``).

It fits the growth of each as time ∝ N^slope (least squares in log-log) and prints the slope
and the time extrapolated to N = 1,281,167 (ImageNet's training set), side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

IMAGENET = 1_281_167
"""Images in ImageNet-1k's training set: the reference size the README extrapolates to."""
DIM = 512
K = 20
OPS = ("knn", "kde", "naeem", "radii")


def features(n: int, seed: int) -> np.ndarray:
    """n points (n, DIM) float32 around 100 cluster centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, DIM)).astype(np.float32)
    return centres[rng.integers(0, 100, n)] + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> float:
    """Reset this process's peak resident memory to its current one (Linux: clear_refs 5) and
    return it (MiB), so that the peak read later is the operation's own."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def peak_mib() -> float:
    """The peak resident memory since :func:`reset_peak` (VmHWM), MiB."""
    return _status_mib("VmHWM")


def child(op: str, n: int, m: int) -> dict[str, float]:
    """One measurement, in this process: seconds and peak memory above the inputs (MiB)."""
    from enfopath.measures.density import (
        ball_counts,
        build_index,
        exact_knn,
        kde_log_density,
        reference_radii,
    )

    ref, queries = features(n, 0), features(m, 1)
    index = build_index(ref)
    radii = None
    if op == "naeem":  # the radii of the reference, from a smaller subsample's scale
        radii = np.full(n, float(np.median(exact_knn(ref, index, ref[:500], K + 1)[0][:, K])))
    base = reset_peak()
    start = time.perf_counter()
    if op == "knn":
        exact_knn(ref, index, queries, K)
    elif op == "kde":
        kde_log_density(ref, queries, 1.0)
    elif op == "naeem":
        ball_counts(index, ref, queries, radii)
    else:
        reference_radii(index, ref, [K])
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "extra_mib": peak_mib() - base}


def measure(op: str, n: int, m: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", op, str(n), str(m)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--radii-up-to", type=int, default=50_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        op, n, m = args.child
        print(json.dumps(child(op, int(n), int(m))))
        return
    print(f"density against N reference points, D = {DIM}, {args.queries} queries, k = {K}:")
    for op in OPS:
        sizes = [n for n in args.sizes if op != "radii" or n <= args.radii_up_to]
        rows = {n: measure(op, n, args.queries) for n in sizes}
        for n, r in rows.items():
            print(f"  {op:6s} N = {n:>9,}: {r['seconds']:8.2f} s, peak {r['extra_mib']:8.1f} MiB")
        if len(sizes) > 1:
            logn = np.log([float(n) for n in sizes])
            slope, icpt = np.polyfit(logn, np.log([rows[n]["seconds"] for n in sizes]), 1)
            at = float(np.exp(icpt + slope * np.log(IMAGENET)))
            print(f"  {op:6s} time ∝ N^{slope:.2f}; at N = {IMAGENET:,}: {at:,.0f} s (fit)")


if __name__ == "__main__":
    main()
