"""Bootstrap intervals, paired tests, PSR / DSR against the published example, verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter
from sklearn.metrics import roc_auc_score

from edgelab.backtest.kpis import compute_kpis
from edgelab.errors import ConfigError, DataError
from edgelab.evaluate.significance import (
    Interval,
    accuracy_interval,
    assess_edge,
    auc_interval,
    bootstrap_interval,
    cagr,
    cagr_interval,
    deflated_sharpe_ratio,
    diebold_mariano,
    expected_max_sharpe,
    paired_bootstrap,
    probabilistic_sharpe_ratio,
    sharpe_interval,
    sharpe_ratio,
    verdict,
)

# --- deflated Sharpe ratio: the published worked example ----------------------------------
# Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
# Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
# 40(5), 94-107, section "A numerical example" (SSRN 2460551, working paper pp. 9-10):
# N = 100 independent trials, variance of their annualized Sharpe ratios 1/2; the selected
# strategy has an annualized Sharpe ratio of 2.5 over 5 years of daily returns (T = 1250,
# 250 days a year), skewness -3 and kurtosis 10. De-annualized: SR = 2.5 / sqrt(250) and
# V = 0.5 / 250. The paper reports SR_0 ~= 0.1132 and DSR ~= 0.9004.
PAPER = {
    "sr": 2.5 / math.sqrt(250),
    "n": 1250,
    "skew": -3.0,
    "kurt": 10.0,
    "trials": 100,
    "var": 0.5 / 250,
}


def test_deflated_sharpe_matches_the_published_example():
    dsr, sr0 = deflated_sharpe_ratio(
        PAPER["sr"], PAPER["n"], PAPER["skew"], PAPER["kurt"], PAPER["trials"], PAPER["var"]
    )
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    # The same strategy without selection (one trial) would look near-certain:
    assert probabilistic_sharpe_ratio(PAPER["sr"], PAPER["n"], PAPER["skew"], PAPER["kurt"]) > 0.999


def test_psr_normal_case_by_hand_and_one_trial_dsr_is_psr_against_zero():
    sr, n = 0.08, 400
    expected = stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))  # skew 0, kurt 3
    assert probabilistic_sharpe_ratio(sr, n) == pytest.approx(expected, rel=1e-12)
    dsr, sr0 = deflated_sharpe_ratio(sr, n, 0.0, 3.0, n_trials=1, var_trials=0.3)
    assert sr0 == 0.0 and dsr == pytest.approx(expected, rel=1e-12)


def test_expected_max_sharpe_is_close_to_the_simulated_maximum():
    rng = np.random.default_rng(0)
    simulated = rng.normal(size=(4000, 100)).max(axis=1).mean()  # E[max of 100 N(0, 1)]
    assert expected_max_sharpe(100, 1.0) == pytest.approx(simulated, rel=0.02)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(10, 1.0) < expected_max_sharpe(1000, 1.0)


def test_psr_refuses_an_annualized_sharpe_and_excess_kurtosis():
    with pytest.raises(DataError, match="per-bar"):
        probabilistic_sharpe_ratio(2.5, 1250, skew=3.0, kurtosis=3.0)
    with pytest.raises(ConfigError, match="non-excess"):
        probabilistic_sharpe_ratio(0.1, 100, kurtosis=0.0)


# --- statistics agree with the backtest KPIs ---------------------------------------------


def test_sharpe_and_cagr_are_the_kpi_definitions():
    r = np.random.default_rng(1).normal(0.0005, 0.01, 500)
    kpis = compute_kpis(r, interval="1D", calendar="equity")
    assert sharpe_ratio(r, kpis["periods_per_year"]) == pytest.approx(kpis["sharpe"], rel=1e-12)
    assert cagr(r, kpis["periods_per_year"]) == pytest.approx(kpis["cagr"], rel=1e-12)
    assert sharpe_ratio(np.zeros(10)) == 0.0


# --- bootstrap intervals -----------------------------------------------------------------


def ar1(rng, n=200, phi=0.5, mu=0.1):
    return mu + lfilter([1.0], [1.0, -phi], rng.normal(0, 1, n + 50))[50:]


def test_block_bootstrap_covers_the_true_mean_at_about_the_nominal_rate():
    # 200 AR(1) series (phi 0.5, n 200, true mean 0.1), 90% stationary-bootstrap intervals
    # of the mean. The percentile interval under-covers a little on short dependent series
    # (about 0.82-0.86 here); an i.i.d. bootstrap (block 1) ignores the autocorrelation and
    # covers far less (about 0.65), which shows this check can fail.
    rng = np.random.default_rng(0)
    hits = [
        bootstrap_interval(np.mean, ar1(rng), n_boot=200, level=0.9, seed=i).covers(0.1)
        for i in range(200)
    ]
    coverage = float(np.mean(hits))
    assert 0.78 <= coverage <= 0.96
    rng = np.random.default_rng(0)
    iid = [
        bootstrap_interval(np.mean, ar1(rng), n_boot=200, level=0.9, seed=i, block=1).covers(0.1)
        for i in range(100)
    ]
    assert float(np.mean(iid)) <= 0.75
    assert coverage - float(np.mean(iid)) >= 0.08


def test_same_seed_same_interval_and_kinds_differ():
    r = np.random.default_rng(2).normal(0.001, 0.01, 300)
    a = sharpe_interval(r, 252, n_boot=300, seed=7)
    assert a == sharpe_interval(r, 252, n_boot=300, seed=7)
    assert a != sharpe_interval(r, 252, n_boot=300, seed=8)
    moving = sharpe_interval(r, 252, n_boot=300, seed=7, kind="moving", block=5)
    assert moving.method == "moving" and moving.block == 5
    assert a.low < a.estimate < a.high
    assert a.estimate == pytest.approx(sharpe_ratio(r, 252))


def test_cagr_auc_and_accuracy_intervals():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 400)
    c = cagr_interval(r, 252, n_boot=200, seed=0)
    assert c.low < cagr(r, 252) < c.high
    y = rng.integers(0, 2, 400)
    informative = auc_interval(y, y + rng.normal(0, 0.3, 400), n_boot=200, seed=0, block=5)
    noise = auc_interval(y, rng.random(400), n_boot=200, seed=0, block=5)
    assert informative.low > 0.9
    assert noise.covers(0.5)
    acc = accuracy_interval(y, y, n_boot=200, seed=0, block=5)
    assert acc.low == acc.high == 1.0


def test_auc_equals_scikit_learns_with_ties():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300).astype(float)
    score = np.round(rng.random(300), 1)  # many ties
    ci = auc_interval(y, score, n_boot=50, seed=0, block=1)
    assert ci.estimate == pytest.approx(roc_auc_score(y, score), rel=1e-12)


def test_auc_on_resamples_with_one_class_is_dropped_and_counted():
    y = np.r_[np.zeros(30), 1.0, np.zeros(9)]
    ci = auc_interval(y, np.linspace(0, 1, 40), n_boot=200, seed=0, block=1)
    assert ci.dropped > 0  # many resamples miss the single positive row


def test_bootstrap_refuses_bad_input():
    with pytest.raises(DataError, match="row 2"):
        sharpe_interval([0.1, 0.2, np.nan, 0.1])
    with pytest.raises(DataError, match="rows"):
        bootstrap_interval(lambda a, b: 0.0, [1.0, 2, 3], [1.0, 2])
    with pytest.raises(ConfigError, match="n_boot"):
        sharpe_interval(np.ones(10), n_boot=10)
    with pytest.raises(ConfigError, match="bootstrap kind 'circular'"):
        sharpe_interval(np.arange(10.0), kind="circular")


# --- paired tests ------------------------------------------------------------------------


def test_diebold_mariano_is_the_newey_west_statistic_by_hand():
    rng = np.random.default_rng(4)
    e = rng.normal(size=300)
    a = e + 0.5 * np.r_[0.0, e[:-1]] + 1.0
    b = rng.normal(size=300) + 1.1
    d = a - b
    n, lags = d.size, 3
    u = d - d.mean()
    s = u @ u / n + 2 * sum((1 - j / (lags + 1)) * (u[j:] @ u[:-j]) / n for j in range(1, lags + 1))
    z = d.mean() / math.sqrt(s / n)
    res = diebold_mariano(a, b, lags=lags, alternative="two-sided")
    assert res.statistic == pytest.approx(z, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    assert res.difference == pytest.approx(d.mean())


def test_diebold_mariano_detects_a_better_model_and_not_an_equal_one():
    rng = np.random.default_rng(5)
    base = rng.normal(1.0, 0.5, 500) ** 2
    better = base * 0.8 + rng.normal(0, 0.05, 500) ** 2
    assert diebold_mariano(better, base).p_value < 0.01
    same = rng.normal(1.0, 0.5, 500) ** 2
    assert diebold_mariano(same, base).p_value > 0.05
    assert diebold_mariano(better, base, horizon=5).details["lags"] >= 4


def test_paired_bootstrap_on_returns():
    rng = np.random.default_rng(6)
    base = rng.normal(0.0, 0.01, 600)
    model = base + 0.002 + rng.normal(0, 0.002, 600)
    res = paired_bootstrap(model, base, n_boot=300, seed=0)
    assert res.p_value < 0.01 and res.difference == pytest.approx(0.002, abs=5e-4)
    assert res.details["interval"]["low"] > 0
    tie = paired_bootstrap(base, base, n_boot=300, seed=0)
    assert tie.p_value == 1.0 and tie.difference == 0.0
    sharpe_diff = paired_bootstrap(model, base, sharpe_ratio, n_boot=300, seed=0)
    assert sharpe_diff.difference == pytest.approx(sharpe_ratio(model) - sharpe_ratio(base))


# --- verdict -----------------------------------------------------------------------------


def _interval(low, high):
    return Interval((low + high) / 2, low, high, 0.95, "stationary", 5.0, 1000)


def test_verdict_rule():
    yes = verdict(_interval(0.3, 2.0), dsr=0.97, n_trials=4)
    assert yes.edge and yes.label == "edge after costs: yes" and "not a promise" in yes.caution
    wide = verdict(_interval(-0.4, 2.0), dsr=0.99, n_trials=4)
    assert not wide.edge and wide.label == "edge after costs: not shown"
    assert "does not lie above 0" in wide.reasons[0]
    deflated = verdict(_interval(0.3, 2.0), dsr=0.95, n_trials=40)  # needs strictly > 0.95
    assert not deflated.edge and "40 trials" in deflated.reasons[0]
    unknown = verdict(_interval(0.3, 2.0), dsr=None, n_trials=3)
    assert not unknown.edge and "could not be computed" in unknown.reasons[0]


def test_assess_edge_on_a_real_edge_and_on_noise():
    rng = np.random.default_rng(7)
    edge = rng.normal(0.002, 0.01, 1000)  # per-bar Sharpe 0.2: annualized ~3.2
    noise = rng.normal(0.0, 0.01, 1000)
    trials = [sharpe_ratio(edge), sharpe_ratio(noise), 0.01, -0.02]
    good = assess_edge(edge, 252, trial_sharpes=trials, n_boot=300, seed=0)
    assert good.verdict.edge and good.n_trials == 4 and good.dsr > 0.95
    assert good.var_trials == pytest.approx(np.var(trials, ddof=1))
    bad = assess_edge(noise, 252, trial_sharpes=trials, n_boot=300, seed=0)
    assert not bad.verdict.edge and bad.sharpe.covers(0.0)
    alone = assess_edge(edge, 252, n_boot=300, seed=0)  # one trial: DSR = PSR against 0
    assert alone.dsr == pytest.approx(alone.psr) and alone.sr0_per_bar == 0.0
    lost = assess_edge(edge, 252, trial_sharpes=[0.2, float("nan")], n_boot=300, seed=0)
    assert lost.dsr is None and not lost.verdict.edge
    lottery = np.r_[np.zeros(195), np.full(5, 0.5)]  # rare big wins: skew 6.1, kurtosis 38
    odd = assess_edge(lottery, 252, n_boot=100, seed=0, block=1)
    assert odd.psr == pytest.approx(
        probabilistic_sharpe_ratio(odd.sharpe_per_bar, 200, odd.skew, odd.kurtosis)
    )
    flat = assess_edge(np.zeros(100), 252, n_boot=100, seed=0)
    assert not flat.verdict.edge and flat.sharpe.low == 0.0
    assert set(good.to_dict()) >= {"sharpe", "cagr", "psr", "dsr", "n_trials", "verdict"}


def test_cagr_of_a_huge_short_gain_is_inf_like_the_kpis_not_an_overflow():
    r = np.full(3, 0.10)  # +33 % in three hourly bars annualizes far beyond float range
    assert cagr(r, 24 * 365.25) == math.inf
    assert cagr(np.array([-1.0, 0.5]), 252) == -1.0  # wiped out
