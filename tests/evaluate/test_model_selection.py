"""Model selection by purged k-fold (`edgelab cv`): purging and embargo on the real
pool, the test span never read, a planted signal selected over buy & hold, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import edgelab.evaluate.model_selection as ms
from edgelab.config import parse_config
from edgelab.data.sources.synthetic import synthetic_market
from edgelab.errors import ConfigError

N_BARS = 700
TEST_START = N_BARS - round(0.2 * N_BARS)  # split.test 0.2 (the default): first test bar

LR = {"name": "lr", "type": "logistic", "params": {"lags": 2}}
BASE = {
    "name": "cvt",
    "seed": 5,
    "features": {"set": "core13"},
    "labels": {"kind": "direction", "horizon": 1},
    "models": [{"name": "bh", "type": "buy_hold"}, LR],
}


def _bars_file(tmp_path: Path, name: str, change_from: int | None = None) -> str:
    """The planted AR(1) market; with `change_from`, every bar from there on is replaced
    by another market's (rescaled to join the old close)."""
    bars = synthetic_market(n_bars=N_BARS, seed=12, signal="ar", strength=0.3)["SYN0"]
    if change_from is not None:
        other = synthetic_market(n_bars=N_BARS, seed=77)["SYN0"]
        prices = [c for c in bars.columns if c not in ("volume", "spread")]
        scale = bars["close"].iloc[change_from - 1] / other["open"].iloc[change_from]
        cols = [bars.columns.get_loc(c) for c in prices]
        bars.iloc[change_from:, cols] = other[prices].iloc[change_from:].to_numpy() * scale
        bars["spread"] = bars["ask_close"] - bars["bid_close"]
    path = tmp_path / f"{name}.parquet"
    bars.to_parquet(path)
    return str(path)


def _cfg(source: str, **changes):
    data = json.loads(json.dumps(BASE))
    data["data"] = {"source": source}
    data.update(changes)
    return parse_config(data)


def test_folds_purge_overlapping_labels_and_never_reach_the_test_span(tmp_path, monkeypatch):
    seen = []
    real = ms._run_fold

    def spy(plan, st, fold, rows, base, metric):
        seen.append((st, fold, rows))
        return real(plan, st, fold, rows, base, metric)

    monkeypatch.setattr(ms, "_run_fold", spy)
    cfg = _cfg(_bars_file(tmp_path, "a"), labels={"kind": "direction", "horizon": 3})
    result = ms.cross_validate(cfg, folds=4)
    assert len(seen) == 4 and result.settings["embargo"] == 3  # the look-ahead by default
    test_start = np.datetime64(pd.Timestamp("2020-01-01") + pd.Timedelta(hours=TEST_START))
    for st, fold, rows in seen:
        start, end = st.index.tz_localize(None).to_numpy(), st.t_end
        train, test = rows[fold.train], rows[fold.test]
        assert (end[rows] < test_start).all()  # no label outcome inside the test span
        assert (st.index.tz_localize(None).to_numpy() < test_start).all()  # no test bar loaded
        lo, hi, test_end = start[test].min(), start[test].max(), end[test].max()
        overlap = (start[train] <= test_end) & (end[train] >= lo)
        assert not overlap.any()  # purged: no training outcome overlaps the held-out fold
        after = np.sort(np.unique(start[rows][start[rows] > hi]))[:3]
        assert not np.isin(start[train], after).any()  # embargo: 3 bars after the fold
        # and exactly those are left out: every other row of the pool is trained on
        dropped = np.setdiff1d(rows, np.r_[train, test])
        expect = ((start[rows] <= test_end) & (end[rows] >= lo)) | np.isin(start[rows], after)
        expect &= ~np.isin(rows, test)
        assert np.array_equal(np.sort(dropped), np.sort(rows[expect]))
        assert len(dropped) > 0
    # horizon 3: the 3 rows before a fold reach into it (purged), the 3 after it start
    # inside its last label (purged, and embargoed too); the first and last fold lose one side
    assert [f["purged_or_embargoed"] for f in result.folds] == [3, 6, 6, 3]


def test_test_span_bars_do_not_change_the_scores_but_earlier_bars_do(tmp_path):
    cfg = _cfg(_bars_file(tmp_path, "a"), models=[LR])
    first = ms.cross_validate(cfg, folds=3).to_dict()
    changed = _cfg(_bars_file(tmp_path, "b", change_from=TEST_START), models=[LR])
    assert ms.cross_validate(changed, folds=3).to_dict() == first
    earlier = _cfg(_bars_file(tmp_path, "c", change_from=TEST_START - 60), models=[LR])
    assert ms.cross_validate(earlier, folds=3).to_dict()["models"] != first["models"]


def test_planted_signal_selects_the_learning_model(tmp_path):
    gbm = {"name": "gbm", "type": "lightgbm",
           "params": {"lags": 2, "n_estimators": 15, "min_child_samples": 20}}  # fmt: skip
    cfg = _cfg(_bars_file(tmp_path, "a"), models=[*BASE["models"], gbm])
    result = ms.cross_validate(cfg, folds=4)
    assert result.scores["bh"] == [0.5] * 4  # always long: no ranking skill
    assert result.selected in ("lr", "gbm") and result.summary(result.selected)[0] > 0.55
    assert all(v > 0.5 for v in result.scores["lr"])
    table = result.table()
    assert list(table["model"]) == ["bh", "lr", "gbm"] and table["selected"].sum() == 1
    loss = ms.cross_validate(cfg, folds=4, metric="log_loss")
    assert loss.higher_is_better is False
    assert loss.selected == min(loss.scores, key=lambda m: loss.summary(m)[0])


def test_metric_names_and_targets_are_checked():
    with pytest.raises(
        ConfigError, match=r"unknown metric 'logloss' \(did you mean 'log_loss'\?\)"
    ):
        ms.check_metric("logloss")
    with pytest.raises(ConfigError, match="use --metric ic"):
        ms.check_metric("auc", "return")
    assert ms.check_metric("ic", "return") == (None, True)


def _config_file(tmp_path: Path) -> Path:
    data = json.loads(json.dumps(BASE))
    data["data"] = {"source": _bars_file(tmp_path, "a")}
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_writes_cv_files_that_are_not_trials(tmp_path):
    from edgelab.cli import app
    from edgelab.evaluate.trials import collect_trials, run_fingerprint

    runs = tmp_path / "runs"
    args = ["cv", str(_config_file(tmp_path)), "--folds", "3", "--runs-dir", str(runs)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "selected: lr" in out.output and "mean ± std" in out.output
    (folder,) = list(runs.iterdir())
    assert folder.name.endswith("-cvt-cv")
    saved = json.loads((folder / "cv.json").read_text())
    assert saved["selected"] == "lr" and len(saved["models"]["lr"]["folds"]) == 3
    table = pd.read_csv(folder / "cv.csv")
    assert list(table.columns[-3:]) == ["fold_0", "fold_1", "fold_2"]
    assert table.loc[table.model == "lr", "selected"].item()
    history = collect_trials(runs, run_fingerprint(folder))
    assert history.n_trials == 0 and history.skipped == []  # passed over, not a trial


def test_cli_bad_metric_exits_2_with_a_suggestion(tmp_path, capsys):
    from edgelab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["cv", str(tmp_path / "absent.yaml"), "--metric", "aucc"])
    assert exc.value.code == 2
    assert "did you mean 'auc'" in capsys.readouterr().err
