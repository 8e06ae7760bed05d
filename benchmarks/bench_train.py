"""Training-speed benchmark: data iteration, trainer overhead, seq2seq, latency, recipes.

    python benchmarks/bench_train.py [--device auto|cpu|cuda|mps] [--quick] [--threads N]

Sections (each prints a markdown table; medians over `--repeats` runs):
  1. data iteration alone, windows/s: the naive pattern (a Dataset whose __getitem__
     slices numpy and builds a tensor per sample, shuffled by a DataLoader) against
     `WindowSource` (one gather per batch from a strided view of the shared matrix);
  2. trainer overhead: `Trainer.fit` (1 epoch, clipping, loss masks, logging) against a
     bare forward + backward + AdamW step over the same, pre-built batches;
  3. sequence-to-sequence: labels/s of `ChunkSource` training against the window-per-label
     loop at equal model and context, and validation AUC of both on a planted signal;
  4. batch-1 inference latency p50/p99 of lstm, transformer and hybrid;
  5. seconds per epoch at each recipe's size (synthetic data of the recipe's shape);
  6. a profit-trained LSTM (mean PnL net of costs) against its cross-entropy twin: PnL,
     Sharpe, drawdown and turnover on train and validation.
The reference network is a 2-layer LSTM, hidden 64, window 64, 35 features, batch 256.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from edgelab.data.sources.synthetic import synthetic_market
from edgelab.dataset.samples import Samples, valid_window_rows
from edgelab.models.base import create_model
from edgelab.models.deep.hybrid import HybridConfig, HybridNet
from edgelab.models.deep.lstm import LSTMConfig, LSTMNet
from edgelab.models.deep.transformer import TransformerConfig, TransformerNet
from edgelab.train import Objective, TrainConfig, Trainer
from edgelab.train.device import amp_dtype, autocast, resolve_device
from edgelab.train.losses import class_loss
from edgelab.train.windows import ChunkSource, WindowSource

F, W, B, HIDDEN = 35, 64, 256, 64
SIGN = torch.tensor([-1.0, 1.0])


def random_samples(n: int, f: int = F, window: int = W, assets: int = 1, seed: int = 0) -> Samples:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n * assets, f)).astype(np.float32)
    asset = np.repeat(np.arange(assets), n).astype(np.int32)
    index = pd.DatetimeIndex(np.tile(pd.date_range("2020", periods=n, freq="h", tz="UTC"), assets))
    y = (rng.random(n * assets) > 0.5).astype(float)
    return Samples(
        X=X, y=y, index=index, asset=asset, rows=valid_window_rows(asset, np.ones(len(X), bool), window),
        feature_names=[f"f{i}" for i in range(f)], assets=[f"A{i}" for i in range(assets)],
        label_map={0: "down", 1: "up"}, window=window, forward_return=rng.normal(0, 0.01, len(X)),
    )  # fmt: skip


def median_of(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(_cell(v) for v in r) + " |")
    sys.stdout.flush()


# --- 1. data iteration ----------------------------------------------------------------------


class NaiveWindows(torch.utils.data.Dataset):
    """The common pattern: slice numpy per sample, build tensors per sample."""

    def __init__(self, s: Samples):
        self.X, self.y, self.rows, self.w = s.X, s.y, s.rows, s.window

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        r = self.rows[i]
        return torch.from_numpy(self.X[r - self.w + 1 : r + 1]), torch.tensor(
            self.y[r], dtype=torch.float32
        )


def bench_data(s: Samples, device, repeats: int) -> dict[str, float]:
    def naive():
        loader = torch.utils.data.DataLoader(NaiveWindows(s), batch_size=B, shuffle=True)
        t = time.perf_counter()
        n = 0
        for x, _ in loader:
            x = x.to(device, non_blocking=True)
            n += len(x)
        sync(device)
        return n / (time.perf_counter() - t)

    def ours():
        src = WindowSource(s, B, shuffle=True, seed=0)
        t = time.perf_counter()
        n = 0
        for b in src.batches(0):
            x = b.to(device).x
            n += len(x)
        sync(device)
        return n / (time.perf_counter() - t)

    out = {"naive": median_of(naive, repeats), "windows": median_of(ours, repeats)}
    table(
        f"1. Data iteration alone ({len(s):,} windows of {W} x {F}, batch {B}, shuffled)",
        ["pattern", "windows/s", "ratio"],
        [["naive Dataset + DataLoader", out["naive"], 1.0],
         ["WindowSource (strided view + gather)", out["windows"], out["windows"] / out["naive"]]],
    )  # fmt: skip
    return out


# --- 2. trainer overhead ---------------------------------------------------------------------


def lstm_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return LSTMNet(LSTMConfig(n_features=F, hidden=HIDDEN, layers=2, dropout=0.0))


def bench_trainer(s: Samples, device, repeats: int) -> dict[str, float]:
    """Windows per CPU-second (process time: on a shared machine, time spent waiting for a
    core is not the loop's cost) and per wall-second, best and median of interleaved runs."""
    batches = [b.to(device) for b in WindowSource(s, B, shuffle=True, seed=0).batches(0)]
    n = sum(len(b.x) for b in batches)
    dtype = amp_dtype(device)
    clock = time.perf_counter if device.type == "cuda" else time.process_time

    def bare():
        net = lstm_net().to(device).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        sync(device)
        t, w = clock(), time.perf_counter()
        for b in batches:
            with autocast(device, dtype):
                loss = class_loss(net(b.x)["logits"].float(), b.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        return n / (clock() - t), n / (time.perf_counter() - w)

    def trainer(clip):
        def run():
            net = lstm_net()
            cfg = TrainConfig(epochs=1, progress=False, grad_clip=clip, device=str(device))
            src = WindowSource(s, B, shuffle=True, seed=0)
            t, w = clock(), time.perf_counter()
            Trainer(cfg).fit(net, Objective(n_logits=1, class_sign=SIGN), src)
            sync(device)
            return n / (clock() - t), n / (time.perf_counter() - w)

        return run

    trainer(1.0)(), bare()  # warm-up: one-time imports and kernel set-up stay out of the timings
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "trainer": [], "trainer_noclip": []}
    for _ in range(repeats):  # interleaved, so load changes hit every variant alike
        runs["bare"].append(bare())
        runs["trainer"].append(trainer(1.0)())
        runs["trainer_noclip"].append(trainer(None)())
    cpu = {k: max(r[0] for r in v) for k, v in runs.items()}  # best: noise only slows
    cpu_med = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    wall = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    unit = "wall" if device.type == "cuda" else "CPU"
    labels = {
        "bare": "bare forward+backward+AdamW (pre-built batches)",
        "trainer": "Trainer.fit, grad_clip 1.0 (batches gathered on the fly)",
        "trainer_noclip": "Trainer.fit, no clipping",
    }
    table(
        f"2. Trainer overhead (LSTM 2x{HIDDEN}, window {W}, {F} features, batch {B}, {n:,} windows, "
        f"{repeats} interleaved runs)",
        ["loop", f"windows per {unit}-s (best)", "time vs bare (best)", "time vs bare (median)",
         "windows per wall-s (median)"],
        [[labels[k], cpu[k], f"{cpu['bare'] / cpu[k]:.3f}", f"{cpu_med['bare'] / cpu_med[k]:.3f}", wall[k]]
         for k in runs],
    )  # fmt: skip
    return cpu


# --- 3. sequence-to-sequence ----------------------------------------------------------------


def market_samples(n_bars: int, strength: float, window: int, seed: int = 0) -> dict[str, Samples]:
    """Log return and its square (scaled on train) -> next-bar direction; 70/30 split."""
    close = synthetic_market(n_bars=n_bars, signal="ar", strength=strength, seed=seed)["SYN0"][
        "close"
    ]
    r = np.diff(np.log(close.to_numpy()))
    cut = int(0.7 * len(r))
    x = r / r[:cut].std()
    X = np.stack([x, x * x - 1.0], 1).astype(np.float32)[:-1]
    y = (r[1:] > 0).astype(float)
    fwd = np.expm1(r[1:])
    index = close.index[1:-1]
    out = {}
    for name, (a, b) in {"train": (0, cut), "val": (cut - window + 1, len(X))}.items():
        labeled = np.arange(a, b) >= (0 if name == "train" else cut)
        asset = np.zeros(b - a, dtype=np.int32)
        out[name] = Samples(
            X=np.ascontiguousarray(X[a:b]), y=np.where(labeled, y[a:b], np.nan), index=index[a:b],
            asset=asset, rows=valid_window_rows(asset, labeled, window), feature_names=["r", "r2"],
            assets=["SYN0"], label_map={0: "down", 1: "up"}, window=window, forward_return=fwd[a:b],
            meta={"label_sign": {0: -1, 1: 1}},
        )  # fmt: skip
    return out


def bench_seq2seq(device, repeats: int, quick: bool) -> dict[str, float]:
    s = random_samples(10_000 if quick else 30_000)
    rows = []
    out = {}
    for mode in ("window", "seq2seq"):

        def run(mode=mode):
            net = lstm_net()
            src = (WindowSource(s, B, shuffle=True) if mode == "window"
                   else ChunkSource(s, chunk=512, burn_in=W - 1, batch_size=16, shuffle=True))  # fmt: skip
            cfg = TrainConfig(epochs=1, progress=False, device=str(device))
            t = time.perf_counter()
            Trainer(cfg).fit(net, Objective(n_logits=1, class_sign=SIGN), src)
            sync(device)
            return src.n_labels / (time.perf_counter() - t)

        out[mode] = median_of(run, repeats)
    rows.append(["window per label (batch 256)", out["window"], 1.0])
    rows.append(
        [
            "seq2seq: 16 chunks of 512 labels + 63 burn-in",
            out["seq2seq"],
            out["seq2seq"] / out["window"],
        ]
    )
    table(
        f"3a. Labels/s, LSTM 2x{HIDDEN}, {F} features, context >= {W} rows",
        ["mode", "labels/s", "ratio"],
        rows,
    )

    data = market_samples(8_000 if quick else 30_000, strength=0.15, window=W)
    metric_rows = []
    for mode in ("window", "seq2seq"):
        params = dict(hidden=32, layers=1, window=W, epochs=4 if quick else 8, lr=3e-3, patience=3,
                      monitor="auc", device=str(device), plots=False)  # fmt: skip
        if mode == "seq2seq":
            params.update(seq2seq=True, chunk=512, chunks_per_batch=16)
        t = time.perf_counter()
        model = create_model("lstm", **params).fit(data["train"], data["val"])
        secs = time.perf_counter() - t
        best = model.history_[model.best_epoch_]
        metric_rows.append([mode, best["val_auc"], best["val_accuracy"], model.best_epoch_ + 1,
                            len(model.history_), secs])  # fmt: skip
    table(
        f"3b. Validation effect: LSTM 1x32 on an AR(1) 0.15 market ({len(data['train']):,} train labels, "
        "best-epoch val metrics; same model, context and epochs budget)",
        ["mode", "val AUC", "val accuracy", "best epoch", "epochs run", "fit seconds"],
        metric_rows,
    )
    return out


# --- 4. latency -----------------------------------------------------------------------------


def bench_latency(device, runs: int) -> None:
    nets = {
        "lstm (2x64)": LSTMNet(LSTMConfig(n_features=F, hidden=64, layers=2)),
        "transformer (d64, 2 layers)": TransformerNet(TransformerConfig(n_features=F)),
        "hybrid (d64, enc 2, BiLSTM 2x64)": HybridNet(HybridConfig(n_features=F)),
    }
    rows = []
    x = torch.randn(1, W, F, device=device)
    for name, net in nets.items():
        net = net.to(device).eval()
        times = []
        with torch.inference_mode():
            for i in range(runs + 20):
                t = time.perf_counter()
                net(x)
                sync(device)
                if i >= 20:
                    times.append((time.perf_counter() - t) * 1e3)
        rows.append([name, float(np.percentile(times, 50)), float(np.percentile(times, 99))])
    table(
        f"4. Batch-1 inference latency, window {W} x {F} features (ms, eager)",
        ["model", "p50", "p99"],
        rows,
    )


# --- 5. recipes -----------------------------------------------------------------------------


def bench_recipes(device, quick: bool) -> None:
    scale = 0.25 if quick else 1.0
    recipes = [
        ("daily_direction", "lstm", dict(hidden=64, layers=2), 13, 32, 1, int(4000 * scale), {}),
        ("daily_direction", "transformer", dict(d_model=64, layers=2), 13, 32, 1, int(4000 * scale), {}),
        ("hybrid_35", "hybrid", {}, 35, 64, 1, int(8000 * scale), {}),
        ("multi_asset_resnet", "resnet1d", dict(channels=32, stages=[1, 1, 1]), 8, 512, 20,
         int(3000 * scale), {"heads": "both", "batch_size": 64}),
        ("gru_price_change", "gru", dict(hidden=32), 1, 64, 1, int(20000 * scale),
         {"seq2seq": True, "chunk": 512}),
    ]  # fmt: skip
    rows = []
    for recipe, name, net, f, w, assets, n, extra in recipes:
        s = random_samples(n, f=f, window=w, assets=assets)
        model = create_model(
            name, window=w, epochs=1, device=str(device), plots=False, **net, **extra
        )
        t = time.perf_counter()
        model.fit(s)
        rows.append(
            [recipe, name, f"{assets} x {n:,} x {f}, window {w}", len(s), time.perf_counter() - t]
        )
    table("5. Seconds per epoch at recipe sizes (random data of the recipe's shape, 1 epoch, no validation)",
          ["recipe", "model", "rows x features", "labels", "s/epoch"], rows)  # fmt: skip


# --- 6. profit loss vs cross-entropy ---------------------------------------------------------


def trading_stats(pos: np.ndarray, fwd: np.ndarray, cost: float) -> list[float]:
    turnover = np.abs(np.diff(pos, prepend=0.0))
    pnl = pos * fwd - cost * turnover
    equity = np.cumsum(pnl)
    drawdown = float(np.max(np.maximum.accumulate(equity) - equity))
    sharpe = float(pnl.mean() / pnl.std() * np.sqrt(24 * 365)) if pnl.std() > 0 else float("nan")
    return [pnl.mean() * 1e4, sharpe, drawdown * 100, turnover.mean()]


def bench_profit(device, quick: bool) -> None:
    data = market_samples(6_000 if quick else 20_000, strength=0.1, window=16, seed=3)
    cost_bps = 2.0
    common = dict(hidden=32, layers=1, window=16, epochs=4 if quick else 10, lr=3e-3, patience=3,
                  cost_bps=cost_bps, device=str(device), plots=False, seed=0)  # fmt: skip
    models = {
        "cross-entropy": create_model("lstm", **common, monitor="loss"),
        "profit (mean PnL of tanh positions, net of costs)": create_model(
            "lstm", **common, objective="pnl", loss_weights={"class": 0.0}, monitor="sharpe"
        ),
    }
    rows = []
    for name, model in models.items():
        model.fit(data["train"], data["val"])
        for split in ("train", "val"):
            s = data[split]
            pos = model.outputs(s)["position"]  # p_up - p_down, in [-1, 1]
            rows.append(
                [name, split, *trading_stats(pos, s.forward_return[s.rows], cost_bps / 1e4)]
            )
    table(
        f"6. Profit-trained LSTM vs its cross-entropy twin (AR(1) 0.1 hourly market, cost {cost_bps} bps "
        "per unit turnover, position = p_up - p_down held one bar)",
        [
            "model",
            "split",
            "mean PnL (bps/bar)",
            "Sharpe (ann., 24x365)",
            "max drawdown (%)",
            "turnover/bar",
        ],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    ap.add_argument("--repeats", type=int, default=None, help="runs per timing (median)")
    ap.add_argument("--only", default="123456", help="sections to run, e.g. 12")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    repeats = args.repeats or (2 if args.quick else 5)
    print(f"device {device} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
          f"quick {args.quick} | repeats {repeats}")  # fmt: skip
    s = random_samples(20_000 if args.quick else 100_000)
    if "1" in args.only:
        bench_data(s, device, repeats)
    if "2" in args.only:
        bench_trainer(random_samples(2_560 if args.quick else 10_240), device, repeats)
    if "3" in args.only:
        bench_seq2seq(device, repeats, args.quick)
    if "4" in args.only:
        bench_latency(device, 100 if args.quick else 500)
    if "5" in args.only:
        bench_recipes(device, args.quick)
    if "6" in args.only:
        bench_profit(device, args.quick)


if __name__ == "__main__":
    main()
