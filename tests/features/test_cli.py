"""`edgelab features list|describe|compute` end to end on the synthetic source."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from edgelab.cli import app, main
from edgelab.data.sources import load_bars
from edgelab.features import compute_features

runner = CliRunner()
SOURCE = "synthetic:n=300,seed=3,assets=2"


def test_list_and_describe():
    result = runner.invoke(app, ["features", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("core13", "rich35", "price_change", "multi_asset8", "heikin_ashi_stoch"):
        assert name in result.output
    result = runner.invoke(app, ["features", "describe", "core13"], terminal_width=200)
    assert result.exit_code == 0 and "13  dow_cos" in result.output


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_compute_writes_the_frame(tmp_path, suffix):
    out = tmp_path / "sub" / f"f{suffix}"
    args = [
        "features",
        "compute",
        SOURCE,
        "--set",
        "heikin_ashi_stoch",
        "-o",
        str(out),
        "--symbol",
        "SYN1",
        "-p",
        "n=20",
    ]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    expected = compute_features(load_bars(SOURCE)["SYN1"], "heikin_ashi_stoch", n=20)
    if suffix == ".parquet":
        got = pd.read_parquet(out)
        assert got.attrs["feature_set"] == "heikin_ashi_stoch" and got.attrs["warmup"] == 19
    else:
        got = pd.read_csv(out, index_col="timestamp", parse_dates=True)
    pd.testing.assert_frame_equal(
        got, expected, check_freq=False, check_index_type=False, check_exact=False, rtol=1e-12
    )
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left behind


def test_compute_panel(tmp_path):
    out = tmp_path / "panel.parquet"
    result = runner.invoke(
        app, ["features", "compute", SOURCE, "--set", "multi_asset8", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out).shape == (300, 16)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "rich53"], "did you mean 'rich35'"),
        (["--set", "rich35"], "choose with --symbol"),
        (["--set", "rich35", "--symbol", "SYN9"], "unknown symbol"),
        (["--set", "heikin_ashi_stoch", "--symbol", "SYN0", "-p", "n"], "not KEY=VALUE"),
        (["--set", "rich35", "--symbol", "SYN0", "-p", "n=3"], "unknown parameter"),
        (["--set", "heikin_ashi_stoch", "--symbol", "SYN0", "-p", "n=abc"], "must be an integer"),
        (
            ["--set", "heikin_ashi_stoch", "--symbol", "SYN0", "-p", "use_mid=yes"],
            "use_mid must be",
        ),
    ],
)
def test_compute_errors_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["features", "compute", SOURCE, "-o", str(tmp_path / "x.parquet"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_compute_rejects_unknown_extension(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["features", "compute", SOURCE, "--set", "rich35", "-o", str(tmp_path / "x.xlsx")])
    assert exc.value.code == 2 and "use .parquet or .csv" in capsys.readouterr().err
