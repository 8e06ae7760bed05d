"""Config loading: errors name the field and suggest the fix; `config show` / `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from edgelab.cli import app, main
from edgelab.config import ExperimentConfig, dump_config, load_config, parse_config
from edgelab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_unknown_key_names_path_and_suggests(tmp_path):
    path = _write(tmp_path, "data:\n  sourse: sample:eurusd_1h\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "unknown key 'data.sourse'" in text and "did you mean 'source'" in text
    assert str(path) in text


def test_unknown_key_in_list_item(tmp_path):
    path = _write(tmp_path, "models:\n  - {name: a, type: logistic, parms: {}}\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'models\[0\]\.parms' \(did you mean 'params'\?\)"
    ):
        load_config(path)


def test_wrong_type_names_field_and_expected_type(tmp_path):
    path = _write(tmp_path, "labels:\n  horizon: soon\n")
    with pytest.raises(
        ConfigError, match=r"'labels\.horizon': Input should be a valid integer.*'soon'"
    ):
        load_config(path)
    with pytest.raises(
        ConfigError, match=r"'labels\.kind'.*'direction', 'forward_return' or 'barrier'"
    ):
        parse_config({"labels": {"kind": "updown"}})


def test_gap_shorter_than_label_lookahead_is_rejected():
    with pytest.raises(
        ConfigError, match=r"split\.gap 2 is shorter than the labels' look-ahead \(5 bars\)"
    ):
        parse_config({"labels": {"horizon": 5}, "split": {"gap": 2}})
    barrier = parse_config({"labels": {"kind": "barrier", "max_horizon": 12}})
    assert barrier.labels.lookahead == 12


def test_test_before_train_start_is_rejected():
    with pytest.raises(ConfigError, match=r"test start 2020-01-01.*must be after train_start"):
        parse_config({"split": {"train_start": "2021-01-01", "test": "2020-01-01"}})


def test_overrides_validate_and_provenance_is_ignored(tmp_path):
    path = _write(tmp_path, "name: x\nprovenance: {seed: 1, git: {commit: abc}}\n")
    cfg = load_config(path, ["labels.horizon=3", "models=[{name: m, type: lightgbm}]"])
    assert cfg.labels.horizon == 3 and cfg.models[0].type == "lightgbm"
    with pytest.raises(ConfigError, match="labels.horizon"):
        load_config(path, ["labels.horizon=0"])


def test_default_yaml_is_valid_and_roundtrips():
    cfg = load_config(REPO / "configs" / "default.yaml")
    assert [m.type for m in cfg.models] == [
        "buy_hold", "sma_cross", "logistic", "lightgbm", "lstm", "transformer",
    ]  # fmt: skip
    assert cfg.backtest.costs.fee_bps > 0
    again = parse_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_config_show_prints_defaults(tmp_path):
    path = _write(tmp_path, "name: tiny\nlabels: {horizon: 2}\n")
    result = CliRunner().invoke(app, ["config", "show", str(path)])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["name"] == "tiny" and shown["labels"]["horizon"] == 2
    defaults = ExperimentConfig().model_dump(mode="json")
    assert shown["scaling"] == defaults["scaling"] and shown["backtest"] == defaults["backtest"]


def test_config_validate_cli_exit_codes(tmp_path, capsys):
    good = _write(tmp_path, "models: [{name: lr, type: logistic}]\n")
    result = CliRunner().invoke(app, ["config", "validate", str(good)])
    assert result.exit_code == 0 and "valid" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [{name: lr, type: logistik}]\n")
    with pytest.raises(SystemExit) as exc:
        main(["config", "validate", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'models[0]' (lr).type: unknown model 'logistik' (did you mean 'logistic'?)" in err
