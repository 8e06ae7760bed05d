"""The label registry, and the look-ahead contract every labeler keeps."""

from __future__ import annotations

import numpy as np
import pytest

from edgelab.cli import main
from edgelab.errors import LabelError
from edgelab.labels import LABELERS, Labels, labeler_params, make_labels

CASES = [
    ("direction", {"horizon": 3, "classes": 3, "dead_band": 0.3, "dead_band_unit": "atr"}),
    ("direction", {"horizon": 1}),
    ("forward_return", {"horizon": 5, "kind": "log"}),
    ("barrier", {"max_horizon": 24}),
    ("barrier", {"max_horizon": 6, "tp_atr": 1.0, "sl_atr": 2.0, "atr_window": 5}),
]


@pytest.mark.parametrize(("kind", "params"), CASES)
def test_labels_look_forward_at_most_horizon_bars(bars_2k, kind, params):
    labels = make_labels(bars_2k, kind, **params)
    assert isinstance(labels, Labels) and labels.kind == kind
    assert labels.index.equals(bars_2k.index)
    assert labels.label.dtype == np.float64
    valid = labels.valid
    assert valid.sum() > len(bars_2k) * 0.9
    # unlabeled rows have no t_end, labelled rows have one strictly after their bar
    assert labels.t_end[~valid].isna().all()
    pos = labels.index.get_indexer(labels.t_end[valid])
    rows = np.flatnonzero(valid)
    assert (pos > rows).all()
    assert (pos - rows <= labels.horizon).all()
    assert (labels.t_end[valid] > labels.index[valid]).all()
    if labels.is_classification:
        assert set(labels.label[valid].unique()) <= set(labels.label_map)
        assert set(labels.label_sign) == set(labels.label_map)


def test_registry_names_and_errors(bars_2k):
    assert set(LABELERS) == {"direction", "forward_return", "barrier"}
    assert labeler_params("barrier")["tp_atr"] == 1.5
    with pytest.raises(
        LabelError, match=r"unknown label kind 'barier' \(did you mean 'barrier'\?\)"
    ):
        make_labels(bars_2k, "barier")
    with pytest.raises(
        LabelError, match=r"unknown parameter 'horizon' \(did you mean 'max_horizon'"
    ):
        make_labels(bars_2k, "barrier", horizon=5)


def test_counts_and_dropna(bars_2k):
    labels = make_labels(bars_2k, "barrier")
    counts = labels.counts()
    assert sum(counts.values()) == len(bars_2k)
    assert counts["unlabeled"] == int((~labels.valid).sum()) >= 14
    dropped = labels.dropna()
    assert len(dropped) == len(bars_2k) - counts["unlabeled"]
    assert dropped.label_map == labels.label_map


def test_cli_unknown_kind_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "labels",
                "compute",
                "synthetic",
                "--kind",
                "barier",
                "-o",
                str(tmp_path / "x.parquet"),
            ]
        )
    assert exc.value.code == 2
    assert "did you mean 'barrier'" in capsys.readouterr().err


def test_regression_counts(bars_2k):
    counts = make_labels(bars_2k, "forward_return", horizon=7).counts()
    assert counts == {"labelled": len(bars_2k) - 7, "unlabeled": 7}
