"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgelab.errors import ModelError
from edgelab.evaluate.metrics import (
    classification_metrics,
    classification_report_text,
    confusion_png,
    regression_metrics,
)

BINARY = {0: "down", 1: "up"}
TERNARY = {0: "flat", 1: "up", 2: "down"}


def test_binary_hand_computed():
    y = np.array([0, 0, 1, 1])
    p_up = np.array([0.1, 0.6, 0.4, 0.8])
    m = classification_metrics(y, np.column_stack([1 - p_up, p_up]), BINARY)
    # predictions: 0, 1, 0, 1 -> 2 of 4 right
    assert m["accuracy"] == 0.5 and m["balanced_accuracy"] == 0.5
    # AUC: positive scores {0.4, 0.8} vs negative {0.1, 0.6}: pairs won 3 of 4
    assert m["roc_auc"] == pytest.approx(0.75)
    # average precision: ranking 0.8(+) 0.6(-) 0.4(+) 0.1(-): (1/1 + 2/3) / 2
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["brier"] == pytest.approx(np.mean((p_up - y) ** 2))
    expect_ll = -np.mean(np.log([0.9, 0.4, 0.4, 0.8]))
    assert m["log_loss"] == pytest.approx(expect_ll)
    assert m["confusion"] == [[1, 1], [1, 1]]
    assert m["per_class"]["up"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def test_three_classes_hand_computed():
    y = np.array([0, 1, 2, 1, 2, 0])
    proba = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.5, 0.4, 0.1],
            [0.3, 0.3, 0.4],
            [0.2, 0.5, 0.3],
        ]
    )
    m = classification_metrics(y, proba, TERNARY)
    # arg-max: 0, 1, 2, 0, 2, 1 -> 4 of 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert m["per_class"]["down"]["f1"] == 1.0
    assert m["f1_macro"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    onehot = np.eye(3)[y]
    assert m["brier"] == pytest.approx(np.mean(((proba - onehot) ** 2).sum(axis=1)))
    # one-vs-rest AUC of 'down' (class 2): scores 0.7, 0.4 vs 0.1,0.1,0.1,0.3 -> 1.0
    assert 0 < m["roc_auc"] <= 1
    assert "flat" in classification_report_text(y, proba, TERNARY)


def test_undefined_scores_are_none_not_numbers():
    y = np.ones(5)
    m = classification_metrics(y, np.tile([0.3, 0.7], (5, 1)), BINARY)
    assert m["roc_auc"] is None and m["pr_auc"] is None and m["balanced_accuracy"] is None
    assert m["accuracy"] == 1.0


def test_bad_shapes_raise():
    with pytest.raises(ModelError, match="shape"):
        classification_metrics(np.zeros(3), np.zeros((3, 3)), BINARY)
    with pytest.raises(ModelError, match="finite"):
        classification_metrics(np.array([0, np.nan]), np.full((2, 2), 0.5), BINARY)


def test_regression_hand_computed():
    y = np.array([0.01, -0.02, 0.03, 0.00])
    pred = np.array([0.02, -0.01, 0.01, -0.02])
    m = regression_metrics(y, pred)
    assert m["mae"] == pytest.approx(np.mean(np.abs(y - pred)))
    assert m["rmse"] == pytest.approx(math.sqrt(np.mean((y - pred) ** 2)))
    # ranks y: 3,1,4,2 ; pred: 4,2,3,1 -> d = -1,-1,1,1 -> rho = 1 - 6*4/(4*15) = 0.6
    assert m["spearman_ic"] == pytest.approx(0.6)
    assert m["sign_hit_rate"] == 0.75  # y = 0 has sign 0: a miss
    assert regression_metrics(y, np.zeros(4))["spearman_ic"] is None


def test_confusion_png_is_written(tmp_path):
    path = confusion_png([[3, 1], [2, 4]], ["down", "up"], tmp_path / "cm.png", "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
