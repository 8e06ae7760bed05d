"""Uncertainty and significance: block-bootstrap intervals, paired tests against a
baseline, the probabilistic and deflated Sharpe ratios, and the plain verdict.

This module owns the statements edgelab makes about whether an edge is real:

- `bootstrap_interval(statistic, *arrays, ...)`: a percentile confidence interval of any
  statistic from a seeded block bootstrap (`"stationary"`: Politis & Romano 1994, random
  block lengths with mean `block`; `"moving"`: fixed blocks), which keeps the serial
  dependence of market returns that an i.i.d. bootstrap would destroy. Resampling is
  the `arch` package's; `block` defaults to Politis & White's (2004) automatic choice
  (`arch.bootstrap.optimal_block_length`). Shortcuts: `sharpe_interval`,
  `cagr_interval`, `auc_interval`, `accuracy_interval`.
- Paired tests of a model against the best baseline on the SAME rows:
  `diebold_mariano(loss_model, loss_base)` (Diebold & Mariano 1995; the variance of the
  mean loss difference is Newey–West HAC, Bartlett kernel, through statsmodels), and
  `paired_bootstrap(a, b, statistic)` (both series resampled with the same blocks).
- `probabilistic_sharpe_ratio` (Bailey & López de Prado 2012) and
  `deflated_sharpe_ratio` (Bailey & López de Prado 2014): the probability that the true
  Sharpe exceeds 0, respectively the Sharpe expected from the best of N trials of
  zero skill. All Sharpe ratios here are PER BAR (not annualized), kurtosis is
  non-excess (normal = 3).
- `verdict(...)`: "edge after costs: yes" only when the lower end of the Sharpe
  interval after costs is above 0 AND the deflated Sharpe ratio is above 0.95;
  otherwise "edge after costs: not shown", with the reasons and a plain caution.
  `assess_edge(returns, ...)` computes everything the verdict needs from one model's
  per-bar net returns.

Sharpe and CAGR follow `edgelab.backtest.kpis.compute_kpis` exactly (risk-free 0,
std with ddof=1, CAGR = final equity ^ (periods_per_year / n) - 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from arch.bootstrap import MovingBlockBootstrap, StationaryBootstrap, optimal_block_length
from scipy import stats

from edgelab.backtest.kpis import cagr_from_growth
from edgelab.errors import ConfigError, DataError, unknown_name

__all__ = [
    "DSR_CONFIDENCE",
    "EULER_GAMMA",
    "EdgeAssessment",
    "Interval",
    "PairedTest",
    "Verdict",
    "accuracy_interval",
    "assess_edge",
    "auc_interval",
    "bootstrap_interval",
    "cagr",
    "cagr_interval",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "expected_max_sharpe",
    "paired_bootstrap",
    "probabilistic_sharpe_ratio",
    "roc_auc",
    "sharpe_interval",
    "sharpe_ratio",
    "verdict",
]

EULER_GAMMA = 0.5772156649015329
#: The deflated Sharpe ratio must exceed this for the verdict "yes".
DSR_CONFIDENCE = 0.95
BOOTSTRAPS = {"stationary": StationaryBootstrap, "moving": MovingBlockBootstrap}


# --- statistics (the KPI definitions of edgelab.backtest.kpis) -------------------------


def sharpe_ratio(returns: Any, periods_per_year: float = 1.0) -> float:
    """mean / std (ddof=1) * sqrt(periods_per_year); 0 when both are 0, NaN when only
    the std is 0 (as `compute_kpis`). Per bar when `periods_per_year` is 1."""
    r = np.asarray(returns, dtype=np.float64)
    mean, std = float(r.mean()), float(r.std(ddof=1)) if r.size > 1 else 0.0
    if std == 0.0:
        return 0.0 if mean == 0.0 else math.nan
    return mean / std * math.sqrt(periods_per_year)


def cagr(returns: Any, periods_per_year: float) -> float:
    """Compound annual growth of per-bar returns, the same definition as the backtest KPIs
    (`cagr_from_growth`): -1 if wiped out, inf beyond float range."""
    r = np.asarray(returns, dtype=np.float64)
    return cagr_from_growth(float(np.prod(1.0 + r)), r.size, periods_per_year)


# --- bootstrap intervals ---------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval at `level`."""

    estimate: float
    low: float
    high: float
    level: float
    method: str
    block: float
    n_boot: int
    dropped: int = 0  # resamples where the statistic was undefined (e.g. AUC of one class)

    def covers(self, value: float) -> bool:
        return bool(self.low <= value <= self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arrays(arrays: Sequence[Any]) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not out or out[0].ndim != 1 or out[0].size < 3:
        raise DataError("a bootstrap needs at least one 1-D series of 3 or more rows")
    for i, a in enumerate(out):
        if a.shape[0] != out[0].shape[0]:
            raise DataError(
                f"bootstrap input {i} has {a.shape[0]} rows, the first has {out[0].shape[0]}"
            )
        if not np.isfinite(a).all():
            row = int(np.argmax(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)))
            raise DataError(f"bootstrap input {i} is not finite at row {row}; drop such rows first")
    return out


def _block(block: float | None, series: np.ndarray, kind: str) -> float:
    if block is not None:
        if block < 1:
            raise ConfigError(f"bootstrap block length must be >= 1 bar, got {block}")
        return float(block)
    if np.ptp(series) == 0:
        return 1.0
    column = "stationary" if kind == "stationary" else "circular"
    return float(max(1.0, math.ceil(optimal_block_length(series)[column].iloc[0])))


def _check_settings(kind: str, n_boot: int, level: float) -> None:
    if kind not in BOOTSTRAPS:
        raise ConfigError(unknown_name("bootstrap kind", kind, BOOTSTRAPS))
    if int(n_boot) != n_boot or n_boot < 50:
        raise ConfigError(f"'n_boot' must be an integer >= 50, got {n_boot!r}")
    if not 0 < level < 1:
        raise ConfigError(f"confidence level must be in (0, 1), got {level}")


def _resample(
    statistic: Callable[..., float],
    arrays: list[np.ndarray],
    n_boot: int,
    block: float,
    kind: str,
    seed: int | np.random.Generator,
) -> np.ndarray:
    size = block if kind == "stationary" else max(1, int(round(block)))
    bs = BOOTSTRAPS[kind](size, *arrays, seed=seed)
    return bs.apply(lambda *a: np.atleast_1d(statistic(*a)), int(n_boot))[:, 0]


def bootstrap_interval(
    statistic: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    block: float | None = None,
    kind: Literal["stationary", "moving"] = "stationary",
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
    interval: Literal["percentile", "normal"] = "percentile",
) -> Interval:
    """Percentile interval of `statistic(*arrays)` under a block bootstrap.

    `arrays`: equal-length series indexed by time (rows resampled together, blocks of
    consecutive rows); `statistic` maps the resampled arrays to a float (NaN = undefined
    on that resample; those are dropped and counted). `block`: mean (stationary) or fixed
    (moving) block length in rows; default Politis–White on the first array. Same `seed`
    => same interval. `interval="normal"`: estimate ± z(level) × the bootstrap standard
    error instead of percentiles; for extreme levels (e.g. Bonferroni-corrected ones)
    where a percentile would rest on a handful of resamples.
    """
    _check_settings(kind, n_boot, level)
    data = _arrays(arrays)
    size = _block(block, data[0], kind)
    estimate = float(statistic(*data))
    draws = _resample(statistic, data, n_boot, size, kind, seed)
    ok = np.isfinite(draws)
    if ok.sum() < 0.5 * n_boot:
        raise DataError(
            f"the statistic is undefined on {int((~ok).sum())} of {n_boot} resamples; "
            "use a longer series or a longer block"
        )
    alpha = (1.0 - level) / 2.0
    if interval == "normal":
        half = float(stats.norm.ppf(1.0 - alpha) * np.std(draws[ok], ddof=1))
        low, high = estimate - half, estimate + half
    elif interval == "percentile":
        low, high = np.quantile(draws[ok], [alpha, 1.0 - alpha])
    else:
        raise ConfigError(f"bootstrap interval must be 'percentile' or 'normal', got {interval!r}")
    method = kind if interval == "percentile" else f"{kind}-normal"
    return Interval(
        estimate, float(low), float(high), level, method, size, int(n_boot), int((~ok).sum())
    )


def sharpe_interval(returns: Any, periods_per_year: float = 1.0, **kw: Any) -> Interval:
    """Bootstrap interval of the (annualized when `periods_per_year` > 1) Sharpe ratio of
    per-bar net returns. Keyword arguments as `bootstrap_interval`."""
    return bootstrap_interval(lambda r: sharpe_ratio(r, periods_per_year), returns, **kw)


def cagr_interval(returns: Any, periods_per_year: float, **kw: Any) -> Interval:
    """Bootstrap interval of the CAGR of per-bar net returns."""
    return bootstrap_interval(lambda r: cagr(r, periods_per_year), returns, **kw)


def roc_auc(y: Any, score: Any) -> float:
    """ROC-AUC in its Mann–Whitney form (ties count one half), equal to scikit-learn's
    `roc_auc_score` but ~20x faster on the bootstrap's many small resamples. `y`: 0/1
    truth (n,), `score` (n,); NaN when `y` holds one class only."""
    positive = np.asarray(y) > 0
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan  # one class in the resample: AUC undefined
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_interval(y: Any, score: Any, **kw: Any) -> Interval:
    """Bootstrap interval of the ROC-AUC of `score` (n,) for binary truth `y` (n,) 0/1;
    for several classes pass one-vs-rest truth and that class's probability. `block`
    defaults to Politis–White on `y`."""
    return bootstrap_interval(roc_auc, y, score, **kw)


def accuracy_interval(y: Any, predicted: Any, **kw: Any) -> Interval:
    """Bootstrap interval of the share of rows where `predicted` equals `y`."""
    return bootstrap_interval(lambda a, b: float(np.mean(a == b)), y, predicted, **kw)


# --- paired tests against a baseline ---------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of a model against a baseline on the same rows.

    `difference`: model minus baseline (of the mean loss for Diebold–Mariano, of the
    statistic for the paired bootstrap); `p_value` for the stated `alternative`.
    """

    method: str
    difference: float
    statistic: float
    p_value: float
    alternative: str
    n: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diebold_mariano(
    loss_model: Any,
    loss_base: Any,
    *,
    horizon: int = 1,
    lags: int | None = None,
    alternative: Literal["less", "greater", "two-sided"] = "less",
) -> PairedTest:
    """Diebold–Mariano test on the loss difference d = loss_model - loss_base (n,).

    DM = mean(d) / sqrt(HAC variance / n), standard normal under H0: E[d] = 0. The HAC
    variance is Newey–West (Bartlett weights, no small-sample correction) with `lags`
    lags, default max(horizon - 1, floor(4 (n / 100)^(2/9))). `alternative="less"`: the
    model's loss is lower (use negative returns as the loss to compare returns).
    """
    import statsmodels.api as sm

    if alternative not in ("less", "greater", "two-sided"):
        raise ConfigError(f"alternative must be less, greater or two-sided, got {alternative!r}")
    a, b = _arrays([loss_model, loss_base])
    d = a - b
    n = d.size
    if lags is None:
        lags = max(horizon - 1, int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0))))
    lags = int(lags)
    if np.ptp(d) == 0:
        raise DataError("the loss difference is constant; the Diebold–Mariano test is undefined")
    fit = sm.OLS(d, np.ones((n, 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}
    )
    z = float(fit.tvalues[0])
    tails = {"less": stats.norm.cdf(z), "greater": stats.norm.sf(z)}
    pval = float(tails.get(alternative, 2 * stats.norm.sf(abs(z))))
    return PairedTest("diebold_mariano", float(d.mean()), z, pval, alternative, n, {"lags": lags})


def paired_bootstrap(
    model: Any,
    base: Any,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 1000,
    block: float | None = None,
    kind: Literal["stationary", "moving"] = "stationary",
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> PairedTest:
    """Paired block bootstrap of statistic(model) - statistic(base), both resampled with
    the same blocks (e.g. the Sharpe of two return series on the same bars).

    H1: the model's statistic is higher. p-value = (1 + #{θ*_b - θ̂ >= θ̂}) / (B + 1),
    the bootstrap distribution shifted to the null θ = 0. `details` holds the interval
    of the difference. `block` defaults to Politis–White on the difference series.
    """
    _check_settings(kind, n_boot, level)
    a, b = _arrays([model, base])

    def diff(x: np.ndarray, y: np.ndarray) -> float:
        return float(statistic(x)) - float(statistic(y))

    size = _block(block, a - b, kind)
    theta = diff(a, b)
    draws = _resample(diff, [a, b], n_boot, size, kind, seed)
    draws = draws[np.isfinite(draws)]
    p = (1.0 + np.sum(draws - theta >= theta)) / (draws.size + 1.0)
    alpha = (1.0 - level) / 2.0
    low, high = (float(q) for q in np.quantile(draws, [alpha, 1.0 - alpha]))
    dropped = int(n_boot - draws.size)
    info = {"interval": Interval(theta, low, high, level, kind, size, n_boot, dropped).to_dict()}
    return PairedTest("paired_bootstrap", theta, theta, float(p), "greater", a.size, info)


# --- probabilistic and deflated Sharpe ratios ------------------------------------------


def probabilistic_sharpe_ratio(
    sharpe: float, n: int, skew: float = 0.0, kurtosis: float = 3.0, benchmark: float = 0.0
) -> float:
    """PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)).

    `sharpe`, `benchmark`: per-bar Sharpe ratios; `n`: number of returns; `skew`,
    `kurtosis` (non-excess, normal = 3) of those returns (Bailey & López de Prado 2012).
    """
    if n < 2:
        raise DataError(f"the probabilistic Sharpe ratio needs at least 2 returns, got {n}")
    if kurtosis < 1:
        raise ConfigError(f"kurtosis must be non-excess (normal = 3), got {kurtosis}")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not var > 0:
        raise DataError(
            f"the Sharpe ratio's variance term is {var:.3g} <= 0 (Sharpe {sharpe:.3g}, skew "
            f"{skew:.3g}); pass a per-bar Sharpe, not an annualized one"
        )
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(n - 1.0) / math.sqrt(var)))


def expected_max_sharpe(n_trials: int, var_trials: float, mean_trials: float = 0.0) -> float:
    """E[max SR] over `n_trials` independent trials whose Sharpe ratios have variance
    `var_trials` (per bar) and mean `mean_trials` (Bailey & López de Prado 2014, eq. on
    SR_0): mean + sqrt(V) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))). One trial: no
    selection, returns `mean_trials`."""
    if n_trials < 1:
        raise ConfigError(f"the number of trials must be >= 1, got {n_trials}")
    if var_trials < 0:
        raise DataError(f"the variance of the trials' Sharpe ratios must be >= 0, got {var_trials}")
    if n_trials == 1:
        return float(mean_trials)
    z = (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1.0 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1 - 1.0 / (n_trials * math.e)
    )
    return float(mean_trials + math.sqrt(var_trials) * z)


def deflated_sharpe_ratio(
    sharpe: float, n: int, skew: float, kurtosis: float, n_trials: int, var_trials: float
) -> tuple[float, float]:
    """(DSR, SR_0): the PSR of the selected per-bar `sharpe` against SR_0 =
    `expected_max_sharpe(n_trials, var_trials)`, the best Sharpe expected from
    `n_trials` trials of zero true skill (Bailey & López de Prado 2014)."""
    sr0 = expected_max_sharpe(n_trials, var_trials)
    return probabilistic_sharpe_ratio(sharpe, n, skew, kurtosis, benchmark=sr0), sr0


# --- verdict ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The plain answer of the report: `edge` True only when both conditions hold."""

    edge: bool
    label: str
    reasons: list[str]
    caution: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(sharpe: Interval, dsr: float | None, n_trials: int) -> Verdict:
    """The plain verdict. Rule: "edge after costs: yes" iff `sharpe.low` > 0 (the
    interval of the Sharpe ratio after costs lies above 0) AND `dsr` > 0.95 (the deflated
    Sharpe ratio, which accounts for the `n_trials` configurations tried on this data);
    otherwise "edge after costs: not shown", with the failed conditions as reasons."""
    reasons = []
    pct = f"{100 * sharpe.level:.0f}%"
    if not sharpe.low > 0:
        reasons.append(
            f"the {pct} interval of the Sharpe ratio after costs, [{sharpe.low:.2f}, "
            f"{sharpe.high:.2f}], does not lie above 0"
        )
    if dsr is None or not math.isfinite(dsr):
        reasons.append("the deflated Sharpe ratio could not be computed")
    elif not dsr > DSR_CONFIDENCE:
        reasons.append(
            f"the deflated Sharpe ratio is {dsr:.2f} (needs > {DSR_CONFIDENCE}) after "
            f"{n_trials} trial{'s' if n_trials != 1 else ''} on this data"
        )
    if not reasons:
        return Verdict(
            True,
            "edge after costs: yes",
            [
                f"Sharpe interval [{sharpe.low:.2f}, {sharpe.high:.2f}] above 0, deflated Sharpe {dsr:.2f}"
            ],
            "This is evidence from past data with the modeled costs, not a promise: markets "
            "change, and live costs, slippage and capacity can be worse. Paper-trade before "
            "risking money.",
        )
    return Verdict(
        False,
        "edge after costs: not shown",
        reasons,
        "The backtest does not show an edge that survives costs and the number of "
        "configurations tried; a positive Sharpe ratio here may well be luck. Do not trade "
        "it on this evidence.",
    )


@dataclass(frozen=True)
class EdgeAssessment:
    """Everything the verdict box shows for one model (Sharpe ratios annualized except
    `sharpe_per_bar`, `sr0_per_bar`)."""

    sharpe: Interval
    cagr: Interval
    sharpe_per_bar: float
    psr: float | None
    dsr: float | None
    sr0_per_bar: float | None
    n_trials: int
    var_trials: float | None
    skew: float
    kurtosis: float
    n: int
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess_edge(
    returns: Any,
    periods_per_year: float,
    *,
    trial_sharpes: Sequence[float] = (),
    n_trials: int | None = None,
    n_boot: int = 1000,
    block: float | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> EdgeAssessment:
    """Sharpe and CAGR intervals, PSR, DSR and the verdict of per-bar net `returns`.

    `trial_sharpes`: PER-BAR Sharpe ratios of every trial on this data (this model
    included), whose sample variance (ddof=1) is V[SR_n]; `n_trials` defaults to their
    number. With 1 trial the DSR is the PSR against 0; with more trials but fewer than 2
    finite Sharpe ratios the DSR is undefined (None) and the verdict is "not shown".
    """
    r = _arrays([returns])[0]
    finite = np.asarray([s for s in trial_sharpes if s is not None and math.isfinite(s)], float)
    n_trials = int(n_trials if n_trials is not None else max(len(trial_sharpes), 1))
    kw = {"n_boot": n_boot, "block": block, "level": level, "seed": seed}
    sharpe_ci = sharpe_interval(r, periods_per_year, **kw)
    cagr_ci = cagr_interval(r, periods_per_year, **kw)
    sr = sharpe_ratio(r)
    skew = float(stats.skew(r)) if np.ptp(r) > 0 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False)) if np.ptp(r) > 0 else 3.0
    # PSR/DSR are undefined (None, and the verdict says so) for a NaN Sharpe. The variance
    # term is a variance for any distribution (the sample's included), so the second test
    # only guards against rounding.
    defined = math.isfinite(sr) and 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2 > 0
    psr = probabilistic_sharpe_ratio(sr, r.size, skew, kurt) if defined else None
    var = float(finite.var(ddof=1)) if finite.size >= 2 else (0.0 if n_trials == 1 else None)
    dsr = sr0 = None
    if var is not None and defined:
        dsr, sr0 = deflated_sharpe_ratio(sr, r.size, skew, kurt, n_trials, var)
    return EdgeAssessment(
        sharpe_ci, cagr_ci, sr, psr, dsr, sr0, n_trials, var, skew, kurt, r.size,
        verdict(sharpe_ci, dsr, n_trials),
    )  # fmt: skip
