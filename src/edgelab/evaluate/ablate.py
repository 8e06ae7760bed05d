"""Ablation (`edgelab ablate CONFIG`): which choices matter, with intervals.

This module owns the variant grid and the comparison table:

- Factors: `features.set` (feature groups), `window` (the look-back of every learned
  model: `lags` of logistic / LightGBM, the sequence `window` of networks),
  `labels.horizon` (`max_horizon` for barrier labels) and `scaling.method`; any other
  config key can be a factor too (`--grid labels.dead_band=0,0.001`).
- Default grid, small on purpose, one factor at a time around the base config: the base
  feature set and one other (core13 <-> rich35), the base window and twice it, the
  base horizon and three times it, the base scaler and the other of standard / robust:
  the base run plus four variants. `--grid factor=v1,v2` replaces a factor's values;
  `--full` runs every combination instead.
- Every variant is an ordinary `edgelab run` into the runs folder, so each one counts
  as trials for the deflated Sharpe of every later run on the same data (that is the
  point: trying many variants must raise the bar). After the last variant the DSR and
  the verdict of every variant are recomputed with the final trial count (`dsr_final`,
  `edge_final`).
- Output: `runs/<UTC time>-<name>-ablation/` with `ablation.csv`, `ablation.md` and
  `report.html` (one row per variant and model: AUC and Sharpe with their intervals,
  return, trades, DSR, verdict, the run folder) and `summary.json`, which marks the
  folder as a summary, not a run (`edgelab.evaluate.trials.SUMMARY_FILE`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from edgelab.config import ExperimentConfig, apply_overrides, parse_config
from edgelab.errors import ConfigError
from edgelab.evaluate.scorecard import RULE_MODELS

__all__ = ["AblationResult", "Variant", "default_grid", "parse_grid", "run_ablation", "variants"]

ALIASES = {
    "features": "features.set",
    "feature_set": "features.set",
    "horizon": "labels.horizon",
    "scaler": "scaling.method",
    "scaling": "scaling.method",
    "window": "window",
}
LAGGED = ("logistic", "lightgbm")
COLUMNS = ["variant", "factor", "value", "model", "type", "auc", "auc_low", "auc_high",
           "accuracy", "sharpe", "sharpe_low", "sharpe_high", "total_return", "n_trades",
           "dsr", "n_trials", "edge", "dsr_final", "n_trials_final", "edge_final",
           "run"]  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One run of the ablation: its label, the factor values it changes, its config."""

    name: str
    changes: dict[str, Any]
    config: ExperimentConfig


@dataclass
class AblationResult:
    folder: Path
    table: pd.DataFrame
    variants: list[Variant]


def _base_window(config: ExperimentConfig) -> int:
    found = [int(m.params.get("lags", 5)) for m in config.models if m.type in LAGGED]
    found += [m.window for m in config.models if m.window is not None]
    found += [int(m.params["window"]) for m in config.models if "window" in m.params]
    return max(found) if found else 1


def _factor_value(config: ExperimentConfig, factor: str) -> Any:
    if factor == "window":
        return _base_window(config)
    if factor == "labels.horizon" and config.labels.kind == "barrier":
        return config.labels.max_horizon
    node: Any = config.model_dump(mode="json")
    for part in factor.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"'--grid {factor}': no such config key")
        node = node[part]
    return node


def default_grid(config: ExperimentConfig) -> dict[str, list[Any]]:
    """The small default grid (module doc): base value first for every factor."""
    fset = config.features.set
    other_set = "rich35" if fset == "core13" else "core13"
    window = _base_window(config)
    horizon = _factor_value(config, "labels.horizon")
    scaler = config.scaling.method
    return {
        "features.set": [fset, other_set],
        "window": [window, 2 * window],
        "labels.horizon": [horizon, 3 * horizon],
        "scaling.method": [scaler, "robust" if scaler == "standard" else "standard"],
    }


def parse_grid(items: list[str], config: ExperimentConfig) -> dict[str, list[Any]]:
    """`["features.set=core13,rich35", "window=5,10"]` -> {factor: values}, merged over
    the default grid (a factor given replaces that factor's values; the base value is
    put first when missing)."""
    grid = default_grid(config)
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not raw.strip():
            raise ConfigError(f"'--grid {item}' must look like factor=value1,value2")
        factor = ALIASES.get(key.strip(), key.strip())
        values = [yaml.safe_load(v.strip()) for v in raw.split(",") if v.strip()]
        base = _factor_value(config, factor)
        grid[factor] = list(dict.fromkeys([base, *values]))
    return grid


def _set_window(data: dict[str, Any], window: int) -> None:
    """Every learned model reads `window` rows: `lags` of the lagged baselines, the
    network's `window` parameter, else its sequence `window`. Rule baselines keep theirs."""
    for model in data["models"]:
        params = model.setdefault("params", {})
        if model["type"] in LAGGED:
            params["lags"] = int(window)
        elif model["type"] in RULE_MODELS:
            continue
        elif "window" in params:
            params["window"] = int(window)
        else:
            model["window"] = int(window)


def apply_changes(config: ExperimentConfig, changes: dict[str, Any], name: str) -> ExperimentConfig:
    """The config of one variant: `changes` {factor: value} applied and validated."""
    data = config.model_dump(mode="json")
    data["name"] = name
    overrides = []
    for factor, value in changes.items():
        if factor == "window":
            _set_window(data, value)
        elif factor == "labels.horizon" and config.labels.kind == "barrier":
            overrides.append(f"labels.max_horizon={json.dumps(value)}")
        elif factor == "features.set":
            data["features"]["set"], data["features"]["params"] = value, {}
        else:
            overrides.append(f"{factor}={json.dumps(value)}")
        if factor in ("labels.horizon", "labels.max_horizon"):
            data["split"]["gap"] = None  # the gap follows the new look-ahead
    return parse_config(apply_overrides(data, overrides), f"ablation variant {name}")


def variants(config: ExperimentConfig, grid: dict[str, list[Any]], full: bool) -> list[Variant]:
    """The base run first, then one variant per non-base value of each factor (or every
    combination with `full`); labels like `window=10`."""
    base = {f: values[0] for f, values in grid.items()}
    combos: list[dict[str, Any]] = [{}]
    if full:
        for values in itertools.product(*grid.values()):
            change = {f: v for f, v in zip(grid, values, strict=True) if v != base[f]}
            if change:
                combos.append(change)
    else:
        combos += [{f: v} for f, values in grid.items() for v in values[1:]]
    out = []
    for i, change in enumerate(combos):
        label = ", ".join(f"{f}={v}" for f, v in change.items()) or "base"
        out.append(
            Variant(label, change, apply_changes(config, change, f"{config.name}-ablate-{i:02d}"))
        )
    return out


def _rows(variant: Variant, run_dir: Path, metrics: dict, edge: dict) -> list[dict[str, Any]]:
    factor = ", ".join(variant.changes) or "base"
    value = ", ".join(str(v) for v in variant.changes.values()) or ""
    rows = []
    for row in metrics["leaderboard"]:
        verdict = (edge.get("models") or {}).get(row["model"]) or {}
        rows.append(
            {
                "variant": variant.name, "factor": factor, "value": value, **row,
                "dsr": verdict.get("dsr"), "n_trials": edge.get("n_trials"),
                "edge": (verdict.get("verdict") or {}).get("edge"), "run": run_dir.name,
            }
        )  # fmt: skip
    return rows


def _final(rows: list[dict], outcomes: dict[str, Any], runs_dir: Path, config) -> None:
    """Recompute every variant's DSR and verdict with the trial count after the last one."""
    from edgelab.evaluate.significance import assess_edge
    from edgelab.evaluate.trials import collect_trials, run_fingerprint

    ev = config.evaluation
    for row in rows:
        out = outcomes[row["run"]]
        history = collect_trials(runs_dir, run_fingerprint(runs_dir / row["run"]))
        result = out.results[row["model"]]
        found = assess_edge(
            result.returns.to_numpy(), float(result.kpis["periods_per_year"]),
            trial_sharpes=[t.sharpe_per_bar for t in history.trials], n_trials=history.n_trials,
            n_boot=ev.n_boot, block=ev.block, level=ev.level, seed=config.seed,
        )  # fmt: skip
        row.update(
            dsr_final=found.dsr, n_trials_final=history.n_trials, edge_final=found.verdict.edge
        )


def run_ablation(
    config: ExperimentConfig,
    *,
    grid: list[str] | None = None,
    full: bool = False,
    runs_dir: str | Path | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> AblationResult:
    """Run every variant (module doc) and write the comparison; returns it."""
    from edgelab.evaluate.ablate_output import write_ablation
    from edgelab.pipeline import check_config, run_experiment_outcome

    console = console or Console(quiet=quiet)
    runs_dir = Path(runs_dir or config.tracking.runs_dir)
    chosen = variants(config, parse_grid(grid or [], config), full)
    for v in chosen:  # every variant is checked before the first one runs
        try:
            check_config(v.config, mlflow=False)
        except ConfigError as exc:
            raise ConfigError(f"ablation variant '{v.name}': {exc}") from None
    rows, outcomes = [], {}
    for i, v in enumerate(chosen):
        if not quiet:
            console.print(f"ablation {i + 1}/{len(chosen)}: {v.name}")
        run_dir, out = run_experiment_outcome(v.config, runs_dir=runs_dir, quiet=True)
        outcomes[run_dir.name] = out
        rows += _rows(v, run_dir, out.metrics, out.edge)
    _final(rows, outcomes, runs_dir, config)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    folder = write_ablation(config, runs_dir, table, chosen, full)
    return AblationResult(folder, table, chosen)


def print_ablation(console: Console, result: AblationResult) -> None:
    """The comparison as a rich table and where the files are."""
    from edgelab.evaluate.ablate_output import display_rows

    rows = display_rows(result.table)
    table = Table(title="Ablation: test span, after costs (DSR and verdict with all trials)")
    cols = [c for c in (rows[0] if rows else {}) if c not in ("return", "trades", "run")]
    for col in cols:
        table.add_column(col, justify="left" if col in ("variant", "model") else "right")
    for r in rows:
        table.add_row(*(r[c] for c in cols))
    console.print(table)
    console.print(f"[bold]ablation:[/bold] {result.folder}")
