"""`edgelab labels compute|plot` end to end on the synthetic source, and the plot helpers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from label_refs import random_bars
from typer.testing import CliRunner

from edgelab.cli import app, main
from edgelab.data.sources import load_bars
from edgelab.errors import LabelError
from edgelab.labels import make_labels
from edgelab.labels.plots import bar_position, barrier_figure, brackets_at, save_png

SPEC = "synthetic:assets=2,n=600,seed=4"
runner = CliRunner()


def test_compute_writes_every_asset_with_metadata(tmp_path):
    out = tmp_path / "labels.parquet"
    result = runner.invoke(
        app,
        ["labels", "compute", SPEC, "--kind", "barrier", "-p", "max_horizon=12", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[b"edgelab.labels"])
    assert meta["label_map"] == {"0": "hold", "1": "long", "2": "short"}
    assert meta["params"]["max_horizon"] == 12
    got = table.to_pandas()
    for sym, bars in load_bars(SPEC).items():
        want = make_labels(bars, "barrier", max_horizon=12).frame
        part = got[got["symbol"] == sym].set_index("timestamp")
        np.testing.assert_array_equal(part["label"].to_numpy(), want["label"].to_numpy())
        assert (part["t_end"].dropna() == want["t_end"].dropna()).all()
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_plot_by_index_and_by_timestamp(tmp_path):
    bars = load_bars(SPEC)["SYN1"]
    out = tmp_path / "one.png"
    args = ["labels", "plot", SPEC, "--symbol", "SYN1", "-o", str(out)]
    result = runner.invoke(
        app, [*args, "--at", str(bars.index[300]), "--window", "40", "--heikin-ashi"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "(bar 300," in " ".join(result.output.split())


def test_plot_errors_exit_2(tmp_path, capsys):
    png = str(tmp_path / "x.png")
    cases = [
        (["labels", "plot", SPEC, "--index", "5", "-o", png], "pick one with --symbol"),
        (["labels", "plot", SPEC, "-s", "SYN0", "-o", png], "exactly one of --at"),
        (
            ["labels", "plot", SPEC, "-s", "SYN0", "--at", "2020-01-01 00:30", "-o", png],
            "nearest bar",
        ),
        (["labels", "plot", SPEC, "-s", "SYN0", "--index", "3", "-o", png], "warm-up"),
        (["labels", "plot", SPEC, "-s", "SYM0", "--index", "30", "-o", png], "did you mean 'SYN0'"),
        (["labels", "compute", SPEC, "-p", "oops", "-o", png], "KEY=VALUE"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        assert message in capsys.readouterr().err, argv


def test_brackets_drawn_are_the_labels_trades():
    bars = random_bars(300, seed=9)
    labels = make_labels(bars, "barrier")
    for pos in (20, 100, 250):
        _, entry, views = brackets_at(
            bars, pos, tp_atr=1.5, sl_atr=1.0, atr_window=14, max_horizon=24, heikin_ashi=False
        )
        long, short = views
        assert entry == bars["close"].iloc[pos]
        assert long.take_profit > long.stop_loss and short.take_profit < short.stop_loss
        code = labels.label.iloc[pos]
        assert (code == 1) == (long.reason == "take_profit")
        assert (code == 2) == (short.reason == "take_profit")
    fig = barrier_figure(bars, 100, window=50)
    assert "label " + labels.label_map[int(labels.label.iloc[100])] in fig.axes[0].get_title()


def test_bar_position_accepts_naive_utc_and_negative_index(tmp_path):
    bars = random_bars(50)
    assert bar_position(bars, at="2024-01-01 05:00", index=None) == 5
    assert bar_position(bars, at=None, index=-1) == 49
    with pytest.raises(LabelError, match="outside the bars"):
        bar_position(bars, at=None, index=50)
    path = save_png(barrier_figure(bars, 30, window=30), tmp_path / "sub" / "f.png")
    assert path.exists() and isinstance(bars.index, pd.DatetimeIndex)
