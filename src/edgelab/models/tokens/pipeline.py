"""The token pipeline end to end, with its reports: `run_token_pipeline(bars, config, out)`.

    bars (bid/ask) -> mid-price Heikin-Ashi -> stochastic normalization (feature set
    `heikin_ashi_stoch`) + ATR barrier labels on Heikin-Ashi mid bars (long / short / hold)
    -> chronological split (gap = the labels' look-ahead) -> `bert_tokens` model: VQ-VAE
    tokens + vocab.json -> BERT masked-LM pretraining (per-epoch top-1 / top-5 table against
    the most-frequent-token baseline) -> [CLS] fine-tuning
    -> classification report and confusion matrix (test), positions from a policy, per-asset
    equity net of costs (`edgelab.backtest`), example signal plots, reconstruction plot.

`edgelab run configs/bert_heikin_ashi.yaml` runs the same model inside the general
experiment (with baselines beside it); this function adds the token-specific reports and
is what `benchmarks/bench_tokens.py` times. Output folder: `model/` (the bundle),
`metrics.json`, `classification_report.txt`, `mlm_epochs.md`, `confusion.png`,
`asset_equity.png`, `equity.png`, `signals_<asset>.png`, `reconstruction.png`.

Trainer hook (wanted, not required): `Trainer.evaluate` could merge
`objective.metrics(got)` into each epoch's row; the objectives here implement `metrics`,
and until then `MLMObjective.passes` records the same numbers per validation pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgelab.backtest import Costs, backtest, get_policy
from edgelab.backtest.engine import BacktestResult
from edgelab.errors import ModelError
from edgelab.figures import save_png
from edgelab.models.base import write_json_atomic
from edgelab.models.tokens.model import MLM_COLUMNS, BertTokensModel
from edgelab.models.tokens.vqvae import plot_reconstruction


@dataclass
class TokenPipelineConfig:
    """Data preparation, labels, split, policy and costs around a `bert_tokens` model."""

    model: dict[str, Any] = field(default_factory=dict)  # BertTokensModel params
    norm_window: int = 100  # stochastic normalization window (bars)
    use_mid: bool | None = None  # None: bid/ask mid when the bars carry bid and ask OHLC
    tp_atr: float = 1.5
    sl_atr: float = 1.0
    atr_window: int = 14
    max_horizon: int = 24
    test: float = 0.2
    val: float = 0.1
    policy: str = "most_likely"
    policy_params: dict[str, Any] = field(default_factory=dict)
    costs: Costs = field(default_factory=Costs)
    calendar: str = "crypto"
    signal_bars: int = 300  # bars shown in each example signal plot
    plots: bool = True


@dataclass
class TokenPipelineResult:
    model: BertTokensModel
    metrics: dict[str, Any]
    backtest: BacktestResult
    predictions: pd.DataFrame  # test-span predictions, every bar with features
    out_dir: Path


def prepare_dataset(bars: dict[str, pd.DataFrame], config: TokenPipelineConfig, window: int):
    """Features, barrier labels, split and Samples (no scaling: the normalized features
    already lie in [0, 1]) for `window` rows per prediction."""
    from edgelab.config import SplitConfig
    from edgelab.dataset.build import build_dataset
    from edgelab.dataset.splits import make_split, timeline
    from edgelab.features.sets import compute_features
    from edgelab.labels import make_labels

    feats = {
        k: compute_features(b, "heikin_ashi_stoch", n=config.norm_window, use_mid=config.use_mid)
        for k, b in bars.items()
    }
    labels = {
        k: make_labels(
            b,
            "barrier",
            tp_atr=config.tp_atr,
            sl_atr=config.sl_atr,
            atr_window=config.atr_window,
            max_horizon=config.max_horizon,
            heikin_ashi=True,
        )  # fmt: skip
        for k, b in bars.items()
    }
    split = make_split(
        timeline([b.index for b in bars.values()]),
        SplitConfig(test=config.test, val=config.val),
        config.max_horizon,
    )
    return build_dataset(bars, feats, labels, split, scaling="none", window=window)


def run_token_pipeline(
    bars: dict[str, pd.DataFrame],
    config: TokenPipelineConfig | None = None,
    out_dir: str | Path = "token-run",
    *,
    console=None,
) -> TokenPipelineResult:
    """Run the whole token pipeline on `bars` ({asset: Bars}) into `out_dir` (see the
    module docstring). Models are fitted on the train split only; reported metrics are
    on the test split; the backtest covers the test span with `config.costs`."""
    config = config or TokenPipelineConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = BertTokensModel(**config.model)
    dataset = prepare_dataset(bars, config, model.input_window())
    model.fit(dataset["train"], dataset["val"])
    model.save(out / "model")
    test, trade = dataset["test"], dataset["trade"]
    proba = model.predict_proba(test)
    metrics = _classification(test, proba, dataset.label_map, out, config.plots)
    preds = model.predict(trade)
    result, bench = _backtest(bars, preds, dataset.split.test, config)
    metrics.update(
        tokenizer=model.report_["tokenizer"],
        mlm=model.report_["mlm"],
        backtest=result.kpis,
        buy_and_hold=bench.kpis,
        per_asset_final_equity={
            a: float(result.asset_equity[a].dropna().iloc[-1]) for a in result.asset_equity
        },
        config={**asdict(config), "costs": config.costs.to_dict()},
    )
    write_json_atomic(out / "metrics.json", metrics)
    _write_text(out / "mlm_epochs.md", mlm_markdown(model.report_["mlm"]))
    if config.plots:
        _plots(model, dataset, bars, preds, result, bench, out, config)
    if console is not None:
        print_mlm_table(console, model.report_["mlm"])
        console.print(metrics["classification_report"])
    return TokenPipelineResult(model, metrics, result, preds, out)


def _classification(test, proba, label_map, out: Path, plots: bool) -> dict[str, Any]:
    from edgelab.evaluate.metrics import (
        classification_metrics,
        classification_report_text,
        confusion_png,
    )

    y = test.targets()
    m = classification_metrics(y, proba, label_map)
    report = classification_report_text(y, proba, label_map)
    _write_text(out / "classification_report.txt", report)
    if plots:
        confusion_png(m["confusion"], m["class_names"], out / "confusion.png", "bert_tokens: test")
    return {"classification": m, "classification_report": report}


def _backtest(bars, preds: pd.DataFrame, span, config: TokenPipelineConfig):
    policy = get_policy(config.policy, **config.policy_params)
    test_bars = {a: b.loc[span.start : span.end] for a, b in bars.items()}
    pos = policy.positions(preds)
    frame = pos.to_frame(next(iter(test_bars))) if isinstance(pos, pd.Series) else pos
    frame = frame.reindex(columns=list(test_bars)).sort_index()
    if frame.isna().any().any():
        raise ModelError(
            "the token model left test bars without a prediction (assets on different "
            "timestamps); backtest assets with a shared calendar"
        )
    result = backtest(test_bars, frame, config.costs, calendar=config.calendar)
    always = pd.DataFrame(1.0, index=frame.index, columns=list(test_bars))
    bench = backtest(test_bars, always, config.costs, calendar=config.calendar)
    return result, bench


# --- tables and plots ------------------------------------------------------------------


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def mlm_markdown(rows: list[dict]) -> str:
    """The per-epoch MLM table as markdown (accuracies in percent)."""
    head = "| " + " | ".join(MLM_COLUMNS) + " |\n|" + "---|" * len(MLM_COLUMNS) + "\n"
    lines = []
    for r in rows:
        cells = []
        for k in MLM_COLUMNS:
            v = r.get(k)
            if k in ("top1", "top5", "base_top1", "base_top5") and v is not None:
                cells.append(f"{100 * v:.1f}%")
            elif k == "lr":
                cells.append(f"{v:.2e}")
            else:
                cells.append(_fmt(v, 2 if k == "seconds" else 4))
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"


def print_mlm_table(console, rows: list[dict]) -> None:
    """The per-epoch MLM table as a rich table."""
    from rich.table import Table

    table = Table(title="BERT masked-LM pretraining (validation)")
    for k in MLM_COLUMNS:
        table.add_column(k, justify="right")
    for r in rows:
        table.add_row(*[_fmt(r.get(k)) for k in MLM_COLUMNS])
    console.print(table)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _plots(model, dataset, bars, preds, result, bench, out: Path, config) -> None:
    from edgelab.backtest.plots import plot_asset_equity, plot_equity

    val = dataset["val"]
    x, recon = model.reconstruct(val.X, val.asset)
    n = min(len(x), 200 // model.config.vqvae.patch)
    plot_reconstruction(
        x[:n], recon[:n], out / "reconstruction.png", feature_names=val.feature_names
    )
    plot_asset_equity(result, out / "asset_equity.png")
    plot_equity(result, out / "equity.png", benchmark=bench, label="bert_tokens")
    for asset in bars:
        frame = preds.xs(asset, level="asset") if isinstance(preds.index, pd.MultiIndex) else preds
        pos = result.positions[asset].dropna()
        signal_plot(bars[asset], frame, pos, out / f"signals_{asset}.png", config.signal_bars)


def signal_plot(bars: pd.DataFrame, pred: pd.DataFrame, position: pd.Series, path, n: int) -> None:
    """Close price over the first `n` predicted bars, shaded green where the position is
    long and red where short, above p(long) - p(short). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = pred.index[:n]
    close = bars["close"].reindex(idx)
    pos = position.reindex(idx).fillna(0.0).to_numpy()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, height_ratios=[3, 1])
    ax.plot(idx, close.to_numpy(), color="black", linewidth=1.0)
    lo, hi = float(close.min()), float(close.max())
    ax.fill_between(
        idx, lo, hi, where=pos > 0, color="tab:green", alpha=0.15, step="post", label="long"
    )
    ax.fill_between(
        idx, lo, hi, where=pos < 0, color="tab:red", alpha=0.15, step="post", label="short"
    )
    ax.set_title(f"{bars.attrs.get('symbol', '')} signals (test span)")
    ax.legend(loc="upper left", fontsize="small")
    edge = pred.get("p_long", 0.0) - pred.get("p_short", 0.0)
    ax2.plot(idx, np.asarray(edge)[: len(idx)], color="tab:blue", linewidth=0.8)
    ax2.axhline(0.0, color="grey", linewidth=0.5)
    ax2.set_ylabel("p_long - p_short", fontsize="small")
    fig.tight_layout()
    save_png(fig, path, dpi=80)
