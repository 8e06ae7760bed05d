"""Speed of the ATR barrier labels (numba) against a plain Python loop, on one core.

    .venv/bin/python benchmarks/bench_labels.py [--bars 1000000] [--repeats 5] [--python-bars 20000]

Measures, pinned to one CPU core:
- first-call cost of the numba kernels, in a fresh process with an empty numba cache
  (compile) and with the on-disk cache warm (`cache=True`: load only);
- `barrier_labels(bars)` end to end on N random-walk bars (validation, TA-Lib ATR, both
  brackets per bar, the Labels frame), median of `--repeats` runs after a warm-up call;
- the same labels written as a plain Python loop (what a user writes by hand), timed on
  `--python-bars` bars and extrapolated linearly to N (the loop is O(N)), checked equal to
  the numba labels on that slice;
- `walk_barriers_batch` on N entries (the trade simulator's path), and direction /
  forward-return labels on N bars;
- barrier labels on real bars (BTCUSDT 5m from shared/data) when that file is present.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_BTCUSDT_5m.parquet"


def random_bars(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, n))
    idx = pd.date_range("2020-01-01", periods=n, freq="5min", tz="UTC", name="timestamp")
    cols = {"open": open_, "high": high, "low": low, "close": close, "volume": np.ones(n)}
    return pd.DataFrame(cols, index=idx)


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def python_walk(o, h, lo, c, t, tp, sl, d, horizon):
    """The walk as plain Python (same rules as edgelab.labels.barriers.walk_barrier)."""
    n = len(c)
    for j in range(t + 1, min(t + horizon, n - 1) + 1):
        if d > 0:
            if o[j] <= sl:
                return j, 2
            if o[j] >= tp:
                return j, 1
            if lo[j] <= sl:
                return j, 2
            if h[j] >= tp:
                return j, 1
        else:
            if o[j] >= sl:
                return j, 2
            if o[j] <= tp:
                return j, 1
            if h[j] >= sl:
                return j, 2
            if lo[j] <= tp:
                return j, 1
    return (t + horizon, 3) if t + horizon <= n - 1 else (n - 1, 4)


def python_barrier_labels(bars: pd.DataFrame, tp=1.5, sl=1.0, window=14, horizon=24) -> np.ndarray:
    o, h, lo, c = (bars[k].tolist() for k in ("open", "high", "low", "close"))
    atr = talib.ATR(
        bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), window
    ).tolist()
    out = [math.nan] * len(c)
    for t in range(len(c)):
        a = atr[t]
        if a != a:
            continue
        el, rl = python_walk(o, h, lo, c, t, c[t] + tp * a, c[t] - sl * a, 1, horizon)
        es, rs = python_walk(o, h, lo, c, t, c[t] - tp * a, c[t] + sl * a, -1, horizon)
        if rl == 1 and rs == 1:
            out[t] = 1 if el < es else 2 if es < el else 0
        elif rl == 1:
            out[t] = 1
        elif rs == 1:
            out[t] = 2
        elif rl != 4 and rs != 4:
            out[t] = 0
    return np.array(out)


FIRST_CALL = """
import time, numpy as np, pandas as pd
t0 = time.perf_counter()
from edgelab.labels import barrier_labels
t1 = time.perf_counter()
n = 500
c = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, n))
idx = pd.date_range("2020", periods=n, freq="h", tz="UTC", name="timestamp")
bars = pd.DataFrame({"open": c, "high": c + 0.2, "low": c - 0.2, "close": c}, index=idx)
barrier_labels(bars)
t2 = time.perf_counter()
barrier_labels(bars)
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.4f}")
"""


def first_call(cache_dir: str) -> tuple[float, float, float]:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True
    )
    return tuple(float(x) for x in out.stdout.split())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--python-bars", type=int, default=20_000)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, also for children
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}, one core"
    )

    with tempfile.TemporaryDirectory() as cache:
        imp, cold, again = first_call(cache)
        _, warm, _ = first_call(cache)
    print(
        f"first call, empty numba cache (compile): {cold:.2f} s  (import {imp:.2f} s, 2nd call {again * 1e3:.1f} ms)"
    )
    print(f"first call, numba cache warm (load only): {warm:.2f} s")

    from edgelab.labels import (
        barrier_labels,
        direction_labels,
        forward_returns,
        walk_barriers_batch,
    )

    bars = random_bars(args.bars)
    barrier_labels(bars.iloc[:1000])  # compile / load outside the timing
    med, runs = timed(lambda: barrier_labels(bars), args.repeats)
    labels = barrier_labels(bars)
    print(
        f"barrier_labels, {args.bars:,} bars: median {med:.3f} s  runs {[round(r, 3) for r in runs]}  "
        f"({args.bars / med / 1e6:.2f} M bars/s)  counts {labels.counts()}"
    )

    small = bars.iloc[: args.python_bars]
    t_py, _ = timed(lambda: python_barrier_labels(small), 1)
    check = barrier_labels(small).label.to_numpy()
    assert np.array_equal(python_barrier_labels(small), check, equal_nan=True), (
        "python loop disagrees"
    )
    t_py_full = t_py * args.bars / args.python_bars
    print(
        f"plain Python loop, {args.python_bars:,} bars: {t_py:.2f} s -> extrapolated to {args.bars:,}: "
        f"{t_py_full:.1f} s; speed-up of numba: {t_py_full / med:.0f}x (labels identical on the slice)"
    )

    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    rng = np.random.default_rng(1)
    entry = np.arange(args.bars - 1, dtype=np.int64)
    direction = rng.choice(np.array([-1, 1], dtype=np.int64), entry.size)
    atr = np.nan_to_num(talib.ATR(h, lo, c, 14), nan=c[0] * 0.003)[entry]
    tp, sl = c[entry] + direction * 1.5 * atr, c[entry] - direction * atr
    walk_barriers_batch(
        o, h, lo, c, entry[:10], c[entry[:10]], tp[:10], sl[:10], direction[:10], 24
    )
    t_b, _ = timed(
        lambda: walk_barriers_batch(o, h, lo, c, entry, c[entry], tp, sl, direction, 24),
        args.repeats,
    )
    print(
        f"walk_barriers_batch, {entry.size:,} entries (horizon 24): median {t_b:.3f} s ({entry.size / t_b / 1e6:.1f} M trades/s)"
    )

    t_d, _ = timed(
        lambda: direction_labels(bars, 1, classes=3, dead_band=0.5, dead_band_unit="atr"),
        args.repeats,
    )
    t_f, _ = timed(lambda: forward_returns(bars, 15, "log"), args.repeats)
    print(
        f"direction_labels (3 classes, ATR band), {args.bars:,} bars: median {t_d:.3f} s; forward_returns: {t_f:.3f} s"
    )

    if REAL.exists():
        real = pd.read_parquet(REAL).set_index("timestamp")
        t_r, _ = timed(lambda: barrier_labels(real), args.repeats)
        counts = barrier_labels(real).counts()
        print(
            f"real {REAL.name}: {len(real):,} bars, median {t_r:.3f} s ({len(real) / t_r / 1e6:.2f} M bars/s), counts {counts}"
        )


if __name__ == "__main__":
    main()
