"""The leakage canary (`edgelab canary [CONFIG]`): the configured pipeline must find
nothing where nothing exists and find a planted signal where one does.

This module owns the canary's scenarios, checks and verdict. The config's features,
labels, models, calibration, thresholds, policy and costs are kept; only the data is
replaced by the synthetic market (`edgelab.data.sources.synthetic`), `canary.n_bars`
bars of `canary.interval` per scenario:

- random walks, one per seed in `canary.seeds` (`signal=none`, strength 0): returns are
  i.i.d. given their volatility, so no model can have skill and no strategy an edge;
- the planted market (`signal=ar`, strength `canary.strength`): each return is
  `strength` times the previous one plus noise, an edge any sound pipeline finds.

Each scenario runs the pipeline in memory (`pipeline.evaluate_experiment`, nothing is
written). The checks, on the test span of each scenario:

1. Random walks, every model and seed: the interval of its skill (test ROC-AUC for
   class labels, null 0.5; Spearman IC of `expected_return` for return labels, null 0)
   covers the null, and the interval of its Sharpe ratio after costs does not lie above
   0. These are m intervals at once, so each is taken at the Bonferroni level
   1 - `canary.family_error` / m (a clean pipeline fails the whole canary by chance with
   probability at most `family_error`, 5 % by default); at such levels percentiles of
   1000 resamples are unstable, hence normal bootstrap intervals (estimate ± z × the
   block-bootstrap standard error).
2. Planted signal: every logistic and LightGBM model (the reliable detectors) has a 95 %
   percentile interval of its skill entirely above the null; a config with neither needs
   at least one learned model that does. Models with constant predictions (buy & hold)
   are not checked for skill: their AUC is 0.5 by construction.

With `features.leak_next_return` (the deliberate leak) the random-walk models see the
next bar's return, their AUC is near 1, and the canary fails naming the leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgelab.config import ExperimentConfig, parse_config
from edgelab.evaluate.edge import macro_auc
from edgelab.evaluate.scorecard import RULE_MODELS, class_columns
from edgelab.evaluate.significance import bootstrap_interval, roc_auc, sharpe_interval

__all__ = ["CanaryCheck", "CanaryResult", "print_canary", "run_canary", "scenario_config"]

#: The model types whose skill on the planted signal the canary demands.
DETECTORS = ("logistic", "lightgbm")
PLANTED_LEVEL = 0.95


@dataclass(frozen=True)
class CanaryCheck:
    """One interval the canary looked at and whether it passed its rule."""

    scenario: str
    model: str
    statistic: str
    estimate: float
    low: float
    high: float
    level: float
    rule: str
    passed: bool
    required: bool = True  # False: shown for information, cannot fail the canary


@dataclass
class CanaryResult:
    """All checks, the criteria in words, and the verdict."""

    checks: list[CanaryCheck]
    criteria: list[str]
    failures: list[str]
    leak: bool
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = not self.failures


def scenario_config(config: ExperimentConfig, *, seed: int, signal: str, strength: float):
    """The config of one canary scenario: the synthetic market replaces the data, the
    run writes nothing, everything else is kept (split dates become fractions)."""
    cc = config.canary
    data = config.model_dump(mode="json")
    data["name"] = f"{config.name}-canary-{signal}-{seed}"
    data["data"] = {
        "source": f"synthetic:assets={cc.assets},n={cc.n_bars},interval={cc.interval},"
        f"signal={signal},strength={strength},seed={seed}"
    }
    split = data["split"]
    if not isinstance(split.get("test"), float) or not isinstance(split.get("val"), float):
        split.update(test=0.2, val=0.1)
    split["train_start"] = None
    data["backtest"]["weights"] = None
    data["backtest"]["calendar"] = "auto"
    data["tracking"]["mlflow"] = False
    data["report"].update(html=False, plots=False)
    return parse_config(data, "canary")


def _skill(target: str, y: np.ndarray, pred, label_map) -> tuple[str, float, Any, tuple] | None:
    """(name, null value, statistic, arrays) of a model's skill on test, or None when
    its predictions are constant (nothing to test)."""
    if target == "class":
        cols = class_columns(label_map)
        p = pred[cols].to_numpy(dtype=np.float64)
        if np.ptp(p, axis=0).max() == 0 or len(np.unique(y)) < 2:
            return None
        if p.shape[1] == 2:
            return "AUC", 0.5, roc_auc, (y, p[:, 1])
        return "AUC", 0.5, macro_auc, (y, *p.T)
    er = pred["expected_return"].to_numpy(dtype=np.float64)
    if np.ptp(er) == 0:
        return None

    def spearman(a: np.ndarray, b: np.ndarray) -> float:
        from scipy.stats import spearmanr

        return float(spearmanr(a, b).statistic)

    return "IC", 0.0, spearman, (y, er)


def _scenario(config: ExperimentConfig, name: str, seed: int, signal: str, strength: float):
    """Run one scenario; per model: (type, skill spec or None, returns, periods/year)."""
    from edgelab.pipeline import evaluate_experiment

    cfg = scenario_config(config, seed=seed, signal=signal, strength=strength)
    plan, out = evaluate_experiment(cfg, metrics=False)
    ds, test = out.dataset, out.dataset["test"]
    y = test.targets()
    found = {}
    for pm in plan.models:
        skill = _skill(ds.target, y, out.preds[pm.name]["test"], ds.label_map)
        result = out.results[pm.name]
        found[pm.name] = (pm.config.type, skill, result.returns.to_numpy(), result.kpis)
    return name, found


def _interval(stat, arrays, *, level: float, interval: str, config: ExperimentConfig):
    ev = config.evaluation
    return bootstrap_interval(
        stat, *arrays, n_boot=max(ev.n_boot, 500), block=ev.block, level=level,
        seed=config.seed, interval=interval,
    )  # fmt: skip


def _random_checks(config, scenarios) -> tuple[list[CanaryCheck], float]:
    m = sum((skill is not None) + 1 for _, f in scenarios for _, skill, _, _ in f.values())
    level = 1.0 - config.canary.family_error / max(m, 1)
    checks = []
    for scenario, found in scenarios:
        for model, (_, skill, returns, kpis) in found.items():
            if skill is not None:
                name, null, stat, arrays = skill
                ci = _interval(stat, arrays, level=level, interval="normal", config=config)
                checks.append(
                    CanaryCheck(scenario, model, name, ci.estimate, ci.low, ci.high, level,
                                f"interval covers {null}", ci.covers(null))
                )  # fmt: skip
            ppy = float(kpis["periods_per_year"])
            ci = sharpe_interval(
                returns, ppy, n_boot=max(config.evaluation.n_boot, 500), level=level,
                block=config.evaluation.block, seed=config.seed, interval="normal",
            )  # fmt: skip
            checks.append(
                CanaryCheck(scenario, model, "Sharpe", ci.estimate, ci.low, ci.high, level,
                            "interval not above 0", not ci.low > 0)
            )  # fmt: skip
    return checks, level


def _planted_checks(config, scenario) -> tuple[list[CanaryCheck], list[str]]:
    name, found = scenario
    learned = {m: v for m, v in found.items() if v[0] not in RULE_MODELS and v[1] is not None}
    detectors = [m for m, v in learned.items() if v[0] in DETECTORS]
    checks = []
    for model, (_, skill, _, _) in learned.items():
        stat_name, null, stat, arrays = skill
        ci = _interval(stat, arrays, level=PLANTED_LEVEL, interval="percentile", config=config)
        must = model in detectors or not detectors
        checks.append(
            CanaryCheck(name, model, stat_name, ci.estimate, ci.low, ci.high, PLANTED_LEVEL,
                        f"lower bound above {null}", ci.low > null, required=must)
        )  # fmt: skip
    failures = []
    if not learned:
        failures.append(f"{name}: no learned model with varying predictions to find the signal")
    elif detectors:
        failures += [
            f"{name}: {c.model} misses the planted signal: {c.statistic} {c.estimate:.3f}, "
            f"{100 * c.level:.0f}% interval [{c.low:.3f}, {c.high:.3f}] does not lie above the null"
            for c in checks
            if c.model in detectors and not c.passed
        ]
    elif not any(c.passed for c in checks):
        failures.append(f"{name}: no learned model finds the planted signal")
    return checks, failures


def _leak_text(config: ExperimentConfig) -> str:
    if config.features.leak_next_return:
        return (
            "LEAK: features.leak_next_return is on, the NEXT bar's return is a feature "
            "(the deliberate leak); the canary caught it"
        )
    return (
        "look for look-ahead: a feature reading later bars, labels or forward returns "
        "among the features, scaling or thresholds fitted beyond their window"
    )


def run_canary(
    config: ExperimentConfig, *, console: Console | None = None, quiet: bool = False
) -> CanaryResult:
    """Run every scenario (module doc) and judge them; writes nothing."""
    console = console or Console(quiet=quiet)
    cc = config.canary
    scenarios = []
    runs = [(f"random walk (seed {s})", s, "none", 0.0) for s in cc.seeds]
    runs.append(
        (f"planted AR(1) {cc.strength:g}", cc.seeds[0] if cc.seeds else 0, "ar", cc.strength)
    )
    for label, seed, signal, strength in runs:
        if not quiet:
            console.print(f"canary: running the pipeline on {label} ...")
        scenarios.append(_scenario(config, label, seed, signal, strength))
    checks, level = _random_checks(config, scenarios[:-1])
    failures = [
        f"{c.scenario}: {c.model} {c.statistic} {c.estimate:.3f}, interval "
        f"[{c.low:.3f}, {c.high:.3f}] — {'finds skill where none exists' if c.statistic != 'Sharpe' else 'a positive Sharpe after costs on a random walk'}"
        for c in checks
        if not c.passed
    ]
    if failures:
        failures.append(_leak_text(config))
    planted, missed = _planted_checks(config, scenarios[-1])
    criteria = [
        f"random walks ({len(cc.seeds)} seeds, {cc.n_bars} bars): every skill interval covers "
        f"its null and no Sharpe interval after costs lies above 0; {len(checks)} intervals at "
        f"the Bonferroni level {100 * level:.2f}% (family error {cc.family_error:g})",
        f"planted AR(1) strength {cc.strength:g}: the {100 * PLANTED_LEVEL:.0f}% skill interval "
        "of every logistic / lightgbm model lies above its null (or of one learned model if "
        "the config has neither)",
    ]
    return CanaryResult(
        checks + planted, criteria, failures + missed, config.features.leak_next_return
    )


def print_canary(console: Console, result: CanaryResult, *, quiet: bool = False) -> None:
    """The checks as a table (unless quiet), the criteria and the verdict."""
    if not quiet:
        table = Table(title="Leakage canary (test span of each scenario)")
        for col in ("scenario", "model", "statistic", "estimate", "interval", "rule", "ok"):
            table.add_column(
                col, justify="left" if col in ("scenario", "model", "rule") else "right"
            )
        for c in result.checks:
            ok = (
                "[green]pass[/green]"
                if c.passed
                else "[bold red]FAIL[/bold red]"
                if c.required
                else "[yellow]miss (not required)[/yellow]"
            )
            table.add_row(
                c.scenario, c.model, c.statistic, f"{c.estimate:.3f}",
                f"[{c.low:.3f}, {c.high:.3f}]", c.rule, ok,
            )  # fmt: skip
        console.print(table)
        for line in result.criteria:
            console.print(f"criterion: {line}")
    if result.passed:
        console.print(
            "[bold green]CANARY PASSED[/bold green]: no edge on random walks, the planted signal found"
        )
        return
    console.print("[bold red]CANARY FAILED[/bold red]")
    for line in result.failures:
        console.print(f"[red]- {line}[/red]")
