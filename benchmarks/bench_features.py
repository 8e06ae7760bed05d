"""Speed of the `rich35` feature set against the raw TA-Lib calls it makes and plain pandas.

    .venv/bin/python benchmarks/bench_features.py --bars 1000000 --repeats 15 --cpu 1

Three contenders on the same 1,000,000 bars (a seeded log random walk, hourly UTC index):

* ``raw``: exactly the TA-Lib calls `rich35` makes, on the same float64 arrays, keeping their
  outputs (a feature set has to hold its columns, so the raw calls do too; discarding them
  lets the allocator hand the same pages back and skips the cost of fresh memory that any
  real use pays; that variant is printed as ``raw_discard`` for reference);
* ``rich35``: `edgelab.features.compute_features(bars, "rich35")`;
* ``pandas``: the same 35 columns written by hand with pandas ``ewm``/``rolling`` as users
  usually do (Wilder smoothing via ``ewm(alpha=1/n, adjust=False)``).

Runs are interleaved (raw, rich35, pandas, raw, ...) so that machine noise hits all alike;
the figures are medians of wall time and of this process's CPU time (user + system: on a
shared machine it leaves out the time spent waiting for a core; all three contenders are
single-threaded). Before timing, the pandas columns are checked to equal rich35's on
the rows after a 1,000-bar burn-in (EMA-type indicators differ only in their seed there).
Targets: rich35 / raw <= 1.5 and pandas / rich35 >= 5.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd
import talib

from edgelab.features import compute_features


def make_bars(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.003, n))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.003, n))
    volume = rng.lognormal(7.0, 0.5, n)
    index = pd.date_range("1990-01-01", periods=n, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def raw_talib(o, h, lo, c, v) -> list:
    """The TA-Lib calls rich35 makes, with its parameters, outputs kept."""
    log_ret = talib.LN(talib.ROCR(c, 1))
    rsi = talib.RSI(c, 14)
    ema = talib.EMA(c, 50)
    line, signal, hist = talib.MACD(c, 12, 26, 9)
    slope = talib.MOM(line, 1)
    return [
        log_ret,
        talib.STDDEV(log_ret, 5, 1.118033988749895),
        talib.STDDEV(log_ret, 20, 1.0259783520851542),
        rsi,
        talib.MOM(rsi, 1),
        talib.SMA(rsi, 5),
        ema,
        talib.ROCP(ema, 1),
        line,
        signal,
        hist,
        slope,
        talib.MOM(slope, 1),
        *talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
        talib.ATR(h, lo, c, 14),
        *talib.BBANDS(c, 20, 2.0, 2.0, 0),
        talib.ROC(c, 10),
        talib.SMA(v, 20),
        talib.STDDEV(v, 20),
        talib.MIN(lo, 20),
        talib.MAX(h, 20),
    ]


def rich35_pandas(bars: pd.DataFrame) -> pd.DataFrame:
    """rich35 in plain pandas, the way it is usually written by hand."""
    o, h, lo, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    out = bars[["open", "high", "low", "close", "volume"]].copy()
    log_ret = np.log(c / c.shift(1))
    out["log_ret_1"] = log_ret
    out["vol_5"] = log_ret.rolling(5).std()
    out["vol_20"] = log_ret.rolling(20).std()
    delta = c.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    rsi = 100 - 100 / (1 + gain / loss)
    out["rsi_14"] = rsi
    out["rsi_14_mom"] = rsi.diff()
    out["rsi_14_ma"] = rsi.rolling(5).mean()
    ema = c.ewm(span=50, adjust=False).mean()
    out["ema_50"] = ema
    out["ema_50_dist"] = c / ema - 1
    out["ema_50_slope"] = ema.pct_change()
    macd = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
    signal = macd.ewm(span=9, adjust=False).mean()
    out["macd"] = macd
    out["macd_signal"] = signal
    out["macd_hist"] = macd - signal
    out["macd_slope"] = macd.diff()
    out["macd_accel"] = macd.diff().diff()
    lowest, highest = lo.rolling(14).min(), h.rolling(14).max()
    fast_k = 100 * (c - lowest) / (highest - lowest)
    out["stoch_k"] = fast_k.rolling(3).mean()
    out["stoch_d"] = out["stoch_k"].rolling(3).mean()
    prev = c.shift(1)
    true_range = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    out["atr_14"] = true_range.ewm(alpha=1 / 14, adjust=False).mean()
    mid, std = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    upper, lower = mid + 2 * std, mid - 2 * std
    out["bb_width"] = (upper - lower) / mid
    out["bb_pctb"] = (c - lower) / (upper - lower)
    out["roc_10"] = c.pct_change(10) * 100
    vol_mean = v.rolling(20).mean()
    out["rel_volume_20"] = v / vol_mean
    out["volume_z_20"] = (v - vol_mean) / v.rolling(20).std(ddof=0)
    out["body"] = c - o
    out["upper_shadow"] = h - bars[["open", "close"]].max(axis=1)
    out["lower_shadow"] = bars[["open", "close"]].min(axis=1) - lo
    low20, high20 = lo.rolling(20).min(), h.rolling(20).max()
    out["price_pos_20"] = (c - low20) / (high20 - low20)
    hour, dow = bars.index.hour, bars.index.day_of_week
    out["hour_sin"] = np.sin(2 * np.pi * hour / 24)
    out["hour_cos"] = np.cos(2 * np.pi * hour / 24)
    out["dow_sin"] = np.sin(2 * np.pi * dow / 7)
    out["dow_cos"] = np.cos(2 * np.pi * dow / 7)
    return out


def check_same_values(bars: pd.DataFrame, rows: int = 200_000, burn_in: int = 1000) -> float:
    """Largest relative difference between rich35 and the pandas version (after burn-in)."""
    sub = bars.iloc[:rows]
    ours, theirs = compute_features(sub, "rich35"), rich35_pandas(sub)
    assert list(ours.columns) == list(theirs.columns), "column lists differ"
    a, b = ours.iloc[burn_in:].to_numpy(), theirs.iloc[burn_in:].to_numpy()
    # relative to each value plus its column's typical size, so values near zero do not
    # turn rounding into huge relative errors (TA-Lib's rolling std uses running sums)
    scale = np.abs(b) + np.median(np.abs(b), axis=0)
    worst = float(np.max(np.abs(a - b) / scale))
    assert worst < 1e-6, f"rich35 and pandas disagree: max relative difference {worst:.3g}"
    return worst


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    del result
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this core")
    args = parser.parse_args()
    if args.cpu is not None:  # one core: all three contenders are single-threaded anyway
        os.sched_setaffinity(0, {args.cpu})

    bars = make_bars(args.bars)
    arrays = [
        np.ascontiguousarray(bars[k].to_numpy(dtype=np.float64))
        for k in ("open", "high", "low", "close", "volume")
    ]
    worst = check_same_values(bars)
    compute_features(bars.iloc[:1000], "rich35")  # numba kernels loaded before timing

    contenders = {
        "raw": lambda: raw_talib(*arrays),
        "raw_discard": lambda: (raw_talib(*arrays), None)[1],
        "rich35": lambda: compute_features(bars, "rich35"),
        "pandas": lambda: rich35_pandas(bars),
    }
    for fn in contenders.values():  # one warm-up run each
        timed(fn)
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            w, c = timed(fn)
            wall[name].append(w)
            cpu[name].append(c)

    ta_version = talib.__ta_version__
    ta_version = ta_version.decode() if isinstance(ta_version, bytes) else ta_version
    pinned = f", pinned to core {args.cpu}" if args.cpu is not None else ""
    print(f"bars: {args.bars:,}  repeats: {args.repeats} (interleaved, medians){pinned}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; CPython {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, TA-Lib {ta_version}"
    )
    print(
        f"values: pandas vs rich35 max difference {worst:.2e} relative to |value| + column median (rows 1,000-200,000)"
    )
    print("| contender | wall median ms | wall min ms | CPU median ms | CPU min ms |")
    print("|---|---:|---:|---:|---:|")
    for name in contenders:
        w, c = wall[name], cpu[name]
        print(
            f"| {name} | {statistics.median(w) * 1e3:.1f} | {min(w) * 1e3:.1f} | {statistics.median(c) * 1e3:.1f} | {min(c) * 1e3:.1f} |"
        )
    for label, t in (("wall", wall), ("CPU", cpu)):
        med = {name: statistics.median(ts) for name, ts in t.items()}
        print(
            f"{label}: rich35 / raw TA-Lib {med['rich35'] / med['raw']:.2f}x (target <= 1.5; "
            f"{med['rich35'] / med['raw_discard']:.2f}x vs raw with outputs discarded); "
            f"pandas / rich35 {med['pandas'] / med['rich35']:.1f}x (target >= 5)"
        )


if __name__ == "__main__":
    main()
