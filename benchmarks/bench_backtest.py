"""Speed of the backtest engine and the trade simulator against peers, in one run.

    .venv/bin/python benchmarks/bench_backtest.py [--bars 1000000] [--bt-bars 100000] [--repeats 5]

Data: a seeded geometric random walk (1-minute bars, 0.1 % volatility per bar) and a
random long / short / flat signal that changes on 1 % of bars (each change picks one of
the two other states); fees 10 bps, no slippage and no spread, so every engine has the
same cost model. Engines, run interleaved (engine order rotates each repeat), medians:

- edgelab `backtest()`: the whole call (checks, account, trade log, KPIs) and its
  account kernel alone (`run_sleeve`);
- vectorbt `Portfolio.from_signals(..., size=inf)` + `value()`: the same account model
  (all-in, fees taken from the traded notional), so equity must agree to 1e-9;
- a bare numpy pass `cumprod(1 + pos[t-1] * ret[t] - fee * |dpos[t]|)`: the floor (a
  cheaper, different model: constant exposure, rebalanced free every bar);
- backtesting.py on the first `--bt-bars` bars (it is slow), trading on the close with
  exclusive orders; whole units, so its equity differs slightly.

Each call is timed in wall time and in this process's CPU time (every engine here is
single-threaded; CPU time leaves out waiting for a core on a shared machine).

Trade simulator: ATR brackets (TP 1.5, SL 1.0, horizon 24) opened at every bar
(`per_bar`, what the labels do) and one at a time on the random signal (`sequential`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from edgelab.backtest import Bracket, Costs, backtest, backtest_trades, simulate_trades
from edgelab.backtest.engine import run_sleeve

FEE = 0.001
COSTS = Costs(fee_bps=10.0, slippage_bps=0.0, spread_bps=0.0, use_bid_ask=False)


def make_data(n: int, seed: int = 42) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.001)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.001)
    index = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index
    )
    bars.attrs.update(symbol="RW", interval="1m", source="bench")
    changes = rng.random(n) < 0.01
    steps = rng.integers(1, 3, n)  # +1 or +2 states: always a different state
    state = np.cumsum(np.where(changes, steps, 0)) % 3  # 0 flat, 1 long, 2 short
    signal = np.where(state == 1, 1.0, np.where(state == 2, -1.0, 0.0))
    return bars, pd.Series(signal, index)


def bare_numpy(close: np.ndarray, pos: np.ndarray) -> np.ndarray:
    ret = np.empty_like(close)
    ret[0] = 0.0
    np.divide(close[1:], close[:-1], out=ret[1:])
    ret[1:] -= 1.0
    net = np.empty_like(close)
    net[0] = 0.0
    np.multiply(pos[:-1], ret[1:], out=net[1:])
    net -= FEE * np.abs(np.diff(pos, prepend=0.0))
    net += 1.0
    return np.cumprod(net)


def vbt_signals(pos: np.ndarray) -> dict[str, np.ndarray]:
    prev = np.concatenate(([0.0], pos[:-1]))
    return {
        "entries": (pos == 1) & (prev != 1),
        "exits": (pos == 0) & (prev == 1),
        "short_entries": (pos == -1) & (prev != -1),
        "short_exits": (pos == 0) & (prev == -1),
    }


def run_vectorbt(vbt, close: pd.Series, signals: dict) -> tuple[np.ndarray, int]:
    # `close` has a tz-naive index: with pandas 3 a tz-aware one makes vectorbt's wrapper
    # convert every timestamp to an object (~20x slower); we give it its fast path
    pf = vbt.Portfolio.from_signals(close, **signals, fees=FEE, init_cash=1.0, freq="1min")
    return pf.value().to_numpy(), int(pf.orders.count())


def run_backtesting_py(bars: pd.DataFrame, pos: np.ndarray) -> tuple[float, int]:
    from backtesting import Backtest, Strategy

    class Follow(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            want = pos[len(self.data) - 1]
            have = 1 if self.position.is_long else (-1 if self.position.is_short else 0)
            if want == have:
                return
            if want == 0:
                self.position.close()
            elif want > 0:
                self.buy()
            else:
                self.sell()

    frame = bars.rename(columns=str.capitalize).tz_localize(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(
            frame, Follow, cash=1e9, commission=FEE, trade_on_close=True, exclusive_orders=True
        )
        stats = bt.run()
    return float(stats["Equity Final [$]"]) / 1e9, int(stats["# Trades"])


def timed(fn):
    """(wall seconds, CPU seconds of this process) of one call; CPU time leaves out the
    time spent waiting for a core, which a shared machine makes noisy."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleave(engines: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Run every engine `repeats` times, rotating the order each round; medians and minima
    of wall and CPU time per engine."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
    names = list(engines)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            runs[name].append(timed(engines[name]))
    out = {}
    for name, pairs in runs.items():
        wall, cpu = [p[0] for p in pairs], [p[1] for p in pairs]
        out[name] = {
            "wall": statistics.median(wall),
            "cpu": statistics.median(cpu),
            "wall_min": min(wall),
            "cpu_min": min(cpu),
        }
    return out


def engine_section(bars, signal, repeats, vbt) -> None:
    n = len(bars)
    close, pos = bars["close"].to_numpy(), signal.to_numpy()
    rate = np.array([FEE])
    signals = vbt_signals(pos)
    ours = backtest(bars, signal, COSTS)
    floor = bare_numpy(close, pos)
    naive = bars["close"].tz_localize(None)
    print(
        f"\n## Engine, {n:,} bars, fee 10 bps, signal changes on {np.mean(np.diff(pos) != 0):.2%} of bars\n"
    )
    engines = {
        "edgelab backtest()": lambda: backtest(bars, signal, COSTS),
        "edgelab account kernel": lambda: run_sleeve(close, pos, rate, rate),
        "bare numpy pass": lambda: bare_numpy(close, pos),
    }
    rows = {
        "edgelab backtest()": (ours.final_equity, ours.kpis["n_orders"]),
        "edgelab account kernel": (ours.final_equity, ours.kpis["n_orders"]),
        "bare numpy pass": (floor[-1], int(np.count_nonzero(np.diff(pos, prepend=0.0)))),
    }
    if vbt is not None:
        run_vectorbt(vbt, naive, signals)  # compile (numba) outside the timing
        value, orders = run_vectorbt(vbt, naive, signals)
        rel = np.max(np.abs(ours.equity.to_numpy() / value - 1.0))
        print(f"edgelab vs vectorbt: max relative equity difference over all bars {rel:.2e}")
        assert rel <= 1e-9, "edgelab and vectorbt disagree"
        assert orders == ours.kpis["n_orders"], "order counts differ"
        engines["vectorbt from_signals + value()"] = lambda: run_vectorbt(vbt, naive, signals)
        rows["vectorbt from_signals + value()"] = (value[-1], orders)
    t = interleave(engines, repeats)
    floor, vb = t["bare numpy pass"], t.get("vectorbt from_signals + value()")
    print(
        "\n| engine | wall median s | CPU median s | bars/s (CPU) | x bare numpy (wall / CPU) "
        "| speed vs vectorbt (wall / CPU) | orders | final equity |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in t.items():
        eq, orders = rows[name]
        ratio = f"{s['wall'] / floor['wall']:.2f} / {s['cpu'] / floor['cpu']:.2f}"
        speed = f"{vb['wall'] / s['wall']:.2f} / {vb['cpu'] / s['cpu']:.2f}" if vb else "-"
        print(
            f"| {name} | {s['wall']:.4f} | {s['cpu']:.4f} | {n / s['cpu']:,.0f} | {ratio} "
            f"| {speed} | {orders:,} | {eq:.12g} |"
        )
    print(
        f"\nminima (wall s / CPU s): { {k: (round(v['wall_min'], 4), round(v['cpu_min'], 4)) for k, v in t.items()} }"
    )


def backtesting_section(bars, signal, repeats, vbt) -> None:
    n = len(bars)
    pos = signal.to_numpy()
    ours = backtest(bars, signal, COSTS)
    engines = {
        "edgelab backtest()": lambda: backtest(bars, signal, COSTS),
        "backtesting.py": lambda: run_backtesting_py(bars, pos),
    }
    rows = {"edgelab backtest()": (ours.final_equity, ours.kpis["n_orders"], ours.kpis["n_trades"])}
    bt_eq, bt_trades = run_backtesting_py(bars, pos)
    rows["backtesting.py"] = (bt_eq, "-", bt_trades)
    if vbt is not None:
        signals, naive = vbt_signals(pos), bars["close"].tz_localize(None)
        value, orders = run_vectorbt(vbt, naive, signals)
        engines["vectorbt from_signals + value()"] = lambda: run_vectorbt(vbt, naive, signals)
        rows["vectorbt from_signals + value()"] = (value[-1], orders, "-")
    t = interleave(engines, repeats)
    print(f"\n## Against backtesting.py, first {n:,} bars\n")
    print(
        "edgelab vs backtesting.py final equity: relative difference "
        f"{bt_eq / ours.final_equity - 1:.2e} (it trades whole units)"
    )
    print(
        "\n| engine | wall median s | CPU median s | bars/s (CPU) | x edgelab (CPU) | orders | trades | final equity |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = t["edgelab backtest()"]["cpu"]
    for name, s in t.items():
        eq, orders, trades = rows[name]
        print(
            f"| {name} | {s['wall']:.4f} | {s['cpu']:.4f} | {n / s['cpu']:,.0f} "
            f"| {s['cpu'] / base:.1f} | {orders} | {trades} | {eq:.12g} |"
        )


def simulator_section(bars, signal, repeats) -> None:
    from edgelab.labels.barriers import walk_barriers_batch

    n = len(bars)
    bracket = Bracket(1.5, 1.0, max_horizon=24, unit="atr", atr_window=14)
    every = pd.Series(1.0, bars.index)
    every.iloc[:14] = 0.0  # ATR warm-up
    o, h, lo, c = (bars[k].to_numpy() for k in ("open", "high", "low", "close"))
    tp_d, sl_d = bracket.distances(bars)
    idx = np.arange(14, n)
    args = (
        o,
        h,
        lo,
        c,
        idx,
        c[idx],
        c[idx] + tp_d[idx],
        c[idx] - sl_d[idx],
        np.ones(idx.size, np.int64),
        24,
    )
    walk_barriers_batch(*args)
    log = simulate_trades(bars, every, bracket, COSTS, mode="per_bar")
    seq = backtest_trades(bars, signal, bracket, COSTS)
    engines = {
        "per_bar simulate_trades (trade log)": lambda: simulate_trades(
            bars, every, bracket, COSTS, mode="per_bar"
        ),
        "per_bar walk kernel only": lambda: walk_barriers_batch(*args),
        "sequential backtest_trades (equity, KPIs)": lambda: backtest_trades(
            bars, signal, bracket, COSTS
        ),
    }
    t = interleave(engines, repeats)
    print(f"\n## Trade simulator, {n:,} bars, ATR bracket TP 1.5 / SL 1.0, horizon 24\n")
    print("| run | wall median s | CPU median s | bars/s (wall) | bars/s (CPU) | trades |")
    print("|---|---:|---:|---:|---:|---:|")
    counts = {
        "per_bar simulate_trades (trade log)": len(log),
        "per_bar walk kernel only": idx.size,
        "sequential backtest_trades (equity, KPIs)": len(seq.trades),
    }
    for name, s in t.items():
        print(
            f"| {name} | {s['wall']:.4f} | {s['cpu']:.4f} | {n / s['wall']:,.0f} "
            f"| {n / s['cpu']:,.0f} | {counts[name]:,} |"
        )
    print(f"\nreasons (per_bar): {log['reason'].value_counts().to_dict()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--bt-bars", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-backtesting-py", action="store_true")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        import vectorbt as vbt
    except ImportError:
        vbt = None
        print("vectorbt not installed: pip install 'vectorbt>=0.26' (the bench extra)")
    versions = {p: _version(p) for p in ("numpy", "pandas", "numba", "vectorbt", "backtesting")}
    print(f"# bench_backtest: {os.cpu_count()} CPUs, pinned to core {args.cpu}, {versions}")
    bars, signal = make_data(args.bars)
    engine_section(bars, signal, args.repeats, vbt)
    if not args.no_backtesting_py:
        backtesting_section(bars.iloc[: args.bt_bars], signal.iloc[: args.bt_bars], 3, vbt)
    simulator_section(bars, signal, args.repeats)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


if __name__ == "__main__":
    main()
