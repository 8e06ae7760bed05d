"""The verdict box of a run: intervals, paired tests, deflated Sharpe and trials counted.

This module is the one call the pipeline (and walk-forward, ablation, canary) makes to
turn a run's backtests and predictions into the statements of the report:

- `assess_models(returns, periods_per_year, fingerprints=..., runs_dir=...)`: per model,
  the bootstrap intervals of the Sharpe ratio and CAGR after costs, the probabilistic
  and deflated Sharpe ratios and the verdict (`significance.assess_edge`). The trials
  are counted, not typed: every model of every earlier run on the same data fingerprint
  (`trials.collect_trials`) plus the models of this run.
- `compare_to_baseline(returns, baselines)`: each model against the best baseline (the
  baseline with the highest Sharpe) on the same bars: Diebold–Mariano on the loss
  -return and a paired block bootstrap of the Sharpe difference.
- `prediction_intervals(y, proba)`: bootstrap intervals of the test AUC (binary; one-vs-
  rest macro for more classes) and accuracy.
- `verdict_lines(assessment)`: the box as plain-language lines for the report / console.
- `edge_summary(...)`: `assess_models` + `verdict_lines` as the run's `edge.json`.

Everything returned is JSON-safe (dicts of floats, strings, lists).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from edgelab.errors import ConfigError
from edgelab.evaluate.significance import (
    accuracy_interval,
    assess_edge,
    bootstrap_interval,
    diebold_mariano,
    paired_bootstrap,
    roc_auc,
    sharpe_ratio,
)
from edgelab.evaluate.trials import Trial, collect_trials, data_fingerprint

__all__ = [
    "assess_models",
    "compare_to_baseline",
    "edge_summary",
    "json_safe",
    "macro_auc",
    "prediction_intervals",
    "verdict_lines",
]


def _series(returns: Any) -> np.ndarray:
    return np.asarray(returns.to_numpy() if isinstance(returns, pd.Series) else returns, float)


def assess_models(
    returns: Mapping[str, Any],
    periods_per_year: float | Mapping[str, float],
    *,
    fingerprints: Mapping[str, str],
    runs_dir: str | os.PathLike | None,
    exclude_run: str | None = None,
    n_boot: int = 1000,
    block: float | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Verdict data per model of this run (module doc).

    `returns`: model name -> per-bar net returns of its backtest (`BacktestResult.returns`),
    `periods_per_year`: one value or one per model (`kpis["periods_per_year"]`).
    `fingerprints`: asset -> data fingerprint (`provenance(...)["fingerprints"]`);
    `runs_dir`: where earlier runs live (None: count this run only); `exclude_run`: the
    folder name of this run if it is already on disk (so it is not counted twice).
    """
    if not returns:
        raise ConfigError("no backtests to assess: the run has no models")
    ppy = {
        name: float(
            periods_per_year[name] if isinstance(periods_per_year, Mapping) else periods_per_year
        )
        for name in returns
    }
    key = data_fingerprint(dict(fingerprints))
    history = collect_trials(runs_dir, key) if runs_dir is not None else None
    earlier = [t for t in (history.trials if history else []) if t.run != exclude_run]
    current = [
        Trial("<this run>", name, sharpe_ratio(_series(r), ppy[name]), ppy[name])
        for name, r in returns.items()
    ]
    trials = earlier + current
    per_bar = [t.sharpe_per_bar for t in trials]
    notes = list(history.skipped) if history else []
    out = {}
    for name, r in returns.items():
        found = assess_edge(
            _series(r), ppy[name], trial_sharpes=per_bar, n_trials=len(trials),
            n_boot=n_boot, block=block, level=level, seed=seed,
        )  # fmt: skip
        out[name] = {
            **found.to_dict(),
            "trials": {
                "fingerprint": key,
                "n_trials": len(trials),
                "earlier_runs": sorted({t.run for t in earlier}),
                "skipped": notes,
            },
        }
    return out


def compare_to_baseline(
    returns: Mapping[str, Any],
    baselines: Sequence[str],
    *,
    n_boot: int = 1000,
    block: float | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each non-baseline model against the best baseline (highest Sharpe among
    `baselines`) on the same bars: {"baseline": name, "diebold_mariano": ...,
    "paired_bootstrap_sharpe": ...}. p-values test "the model is better"."""
    known = [b for b in baselines if b in returns]
    if not known:
        raise ConfigError(
            f"none of the baselines {', '.join(baselines) or '(none)'} was backtested; "
            f"models: {', '.join(returns)}"
        )
    best = max(known, key=lambda b: np.nan_to_num(sharpe_ratio(_series(returns[b])), nan=-np.inf))
    base = _series(returns[best])
    out = {}
    for name, r in returns.items():
        if name in known:
            continue
        mine = _series(r)
        if mine.shape != base.shape:
            raise ConfigError(
                f"model '{name}' has {mine.size} backtest bars, baseline '{best}' {base.size}; "
                "compare backtests of the same span"
            )
        entry: dict[str, Any] = {"baseline": best}
        if np.ptp(mine - base) == 0:
            entry["note"] = "identical returns to the baseline: no test"
        else:
            entry["diebold_mariano"] = diebold_mariano(-mine, -base).to_dict()
            entry["paired_bootstrap_sharpe"] = paired_bootstrap(
                mine, base, sharpe_ratio, n_boot=n_boot, block=block, seed=seed
            ).to_dict()
        out[name] = entry
    return out


def macro_auc(y: np.ndarray, *proba: np.ndarray) -> float:
    """One-vs-rest macro AUC over the classes present (the definition of
    `edgelab.evaluate.metrics`); NaN when fewer than 2 classes are present."""
    codes = np.round(y).astype(int)
    scores = [roc_auc((codes == c).astype(float), p) for c, p in enumerate(proba)]
    scores = [s for s in scores if math.isfinite(s)]
    return float(np.mean(scores)) if len(np.unique(codes)) >= 2 and scores else math.nan


def prediction_intervals(
    y: Any,
    proba: Any,
    *,
    n_boot: int = 1000,
    block: float | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap intervals of AUC and accuracy of class probabilities `proba` (n, k)
    against codes `y` (n,), rows in time order (blocks keep their dependence)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    kw = {"n_boot": n_boot, "block": block, "level": level, "seed": seed}
    if p.shape[1] == 2:
        auc = bootstrap_interval(roc_auc, y, p[:, 1], **kw)
    else:
        auc = bootstrap_interval(macro_auc, y, *p.T, **kw)
    acc = accuracy_interval(y, p.argmax(axis=1).astype(float), **kw)
    return {"auc": auc.to_dict(), "accuracy": acc.to_dict()}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def verdict_lines(assessment: Mapping[str, Any]) -> list[str]:
    """The verdict box of one model (an entry of `assess_models`) as plain lines."""
    v, s, c = assessment["verdict"], assessment["sharpe"], assessment["cagr"]
    level = f"{100 * s['level']:.0f}%"
    dsr = assessment["dsr"]
    lines = [
        v["label"],
        f"Sharpe after costs {s['estimate']:.2f} ({level} interval {s['low']:.2f} to {s['high']:.2f})",
        f"CAGR {_pct(c['estimate'])} ({level} interval {_pct(c['low'])} to {_pct(c['high'])})",
        "deflated Sharpe ratio "
        + ("not available" if dsr is None else f"{dsr:.2f}")
        + f" after {assessment['n_trials']} trials counted on this data",
    ]
    lines += [f"- {r}" for r in v["reasons"]] if not v["edge"] else []
    lines.append(v["caution"])
    return lines


def edge_summary(
    returns: Mapping[str, Any],
    periods_per_year: float | Mapping[str, float],
    *,
    fingerprints: Mapping[str, str],
    runs_dir: str | os.PathLike | None,
    exclude_run: str | None,
    n_boot: int = 1000,
    block: float | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The content of a run's `edge.json`: `assess_models` per model plus its
    `verdict_lines`, and the trial count once at the top. It depends on the earlier
    runs under `runs_dir`, which is why it is kept out of the deterministic
    `metrics.json`. Arguments as `assess_models`."""
    found = assess_models(
        returns, periods_per_year, fingerprints=fingerprints, runs_dir=runs_dir,
        exclude_run=exclude_run, n_boot=n_boot, block=block, level=level, seed=seed,
    )  # fmt: skip
    trials = next(iter(found.values()))["trials"]
    models = {
        name: {**{k: v for k, v in a.items() if k != "trials"}, "lines": verdict_lines(a)}
        for name, a in found.items()
    }
    return json_safe(
        {
            "about": "history-dependent: trials are every model of every run on the same "
            "data fingerprint under the runs folder (this run included)",
            "fingerprint": trials["fingerprint"],
            "n_trials": trials["n_trials"],
            "earlier_runs": trials["earlier_runs"],
            "skipped": trials["skipped"],
            "level": level,
            "models": models,
        }
    )


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
