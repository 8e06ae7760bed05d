"""Losses against hand-computed values; positions; the weighted dual-head sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgelab.errors import ModelError
from edgelab.train.losses import (
    Objective,
    class_loss,
    mean_pnl_loss,
    pnl_series,
    return_loss,
    sharpe_loss,
)
from edgelab.train.windows import Batch


def _batch(y, fwd, mask=None, asset=None, time_dim=0) -> Batch:
    y = torch.tensor(y, dtype=torch.float32)
    return Batch(
        x=torch.zeros(len(y), 1, 1),
        y=y,
        fwd=torch.tensor(fwd, dtype=torch.float32),
        mask=torch.ones(y.shape, dtype=torch.bool) if mask is None else torch.tensor(mask),
        asset=torch.zeros(y.shape, dtype=torch.int64) if asset is None else torch.tensor(asset),
        row=torch.arange(len(y)),
        time_dim=time_dim,
    )


def test_pnl_series_by_hand():
    pos = torch.tensor([[0.5, -0.5, -0.5, 1.0]])
    fwd = torch.tensor([[0.02, 0.01, -0.04, 0.03]])
    mask = torch.tensor([[True, True, True, True]])
    pnl = pnl_series(pos, fwd, cost=0.001, mask=mask)
    # bar 0: 0.01 (no turnover charged at a sequence start); bar 1: -0.005 - 0.001 * 1.0
    # bar 2: 0.02 - 0; bar 3: 0.03 - 0.001 * 1.5
    np.testing.assert_allclose(pnl.numpy(), [[0.01, -0.006, 0.02, 0.0285]], rtol=1e-6)
    assert float(mean_pnl_loss(pnl, mask)) == pytest.approx(-(0.01 - 0.006 + 0.02 + 0.0285) / 4)
    p = np.array([0.01, -0.006, 0.02, 0.0285])
    expect = -p.mean() / np.sqrt(p.var() + 1e-8)  # eps keeps a flat PnL finite
    assert float(sharpe_loss(pnl, mask)) == pytest.approx(expect, rel=1e-5)


def test_pnl_series_masks_bars_and_breaks_turnover_across_series():
    pos = torch.tensor([[1.0, -1.0, 1.0]])
    fwd = torch.tensor([[0.01, 0.01, 0.01]])
    mask = torch.tensor([[True, False, True]])
    pnl = pnl_series(pos, fwd, 0.01, mask)
    np.testing.assert_allclose(pnl.numpy(), [[0.01, 0.0, 0.01]])  # no link over a masked bar
    same = torch.tensor([[True, False]])
    pnl = pnl_series(pos, fwd, 0.01, torch.ones(1, 3, dtype=torch.bool), same)
    np.testing.assert_allclose(pnl.numpy(), [[0.01, -0.03, 0.01]], rtol=1e-6)


def test_class_loss_weights_match_manual_formulas():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    y = torch.tensor([0.0, 2.0])
    w = torch.tensor([1.0, 1.0, 3.0])
    logp = torch.log_softmax(logits, 1)
    manual = -(1.0 * logp[0, 0] + 3.0 * logp[1, 2]) / (1.0 + 3.0)
    assert float(class_loss(logits, y, class_weight=w)) == pytest.approx(float(manual))
    z, t = torch.tensor([[1.5], [-0.5]]), torch.tensor([1.0, 0.0])
    pw = torch.tensor(4.0)
    sig = torch.sigmoid(z[:, 0])
    manual = -(4.0 * torch.log(sig[0]) + torch.log(1 - sig[1])) / 2
    assert float(class_loss(z, t, pos_weight=pw)) == pytest.approx(float(manual), rel=1e-6)


def test_return_losses():
    p, t = torch.tensor([0.0, 3.0]), torch.tensor([1.0, 0.0])
    assert float(return_loss(p, t, "l1")) == pytest.approx(2.0)
    assert float(return_loss(p, t, "mse")) == pytest.approx(5.0)
    assert float(return_loss(p, t, "huber", 1.0)) == pytest.approx((0.5 + 2.5) / 2)
    with pytest.raises(ModelError, match="unknown return loss"):
        return_loss(p, t, "l3")


def test_dual_head_loss_is_the_weighted_sum():
    obj = Objective(
        n_logits=1, return_head=True, return_target="fwd", weights={"class": 2.0, "return": 0.5},
        ret_scale=0.01, class_sign=torch.tensor([-1.0, 1.0]),
    )  # fmt: skip
    out = {"logits": torch.tensor([[0.3], [-1.2]]), "ret": torch.tensor([1.0, -2.0])}
    batch = _batch([1.0, 0.0], [0.02, -0.01])
    total, parts = obj(out, batch)
    bce = class_loss(out["logits"], batch.y)
    l1 = (abs(1.0 - 2.0) + abs(-2.0 + 1.0)) / 2  # targets divided by ret_scale: 2, -1
    assert float(parts["return"]) == pytest.approx(l1)
    assert float(total) == pytest.approx(2.0 * float(bce) + 0.5 * l1)


def test_positions_are_p_long_minus_p_short():
    three = Objective(n_logits=3, class_sign=torch.tensor([0.0, 1.0, -1.0]))
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    p = torch.softmax(logits, -1)[0]
    assert float(three.position({"logits": logits})[0]) == pytest.approx(float(p[1] - p[2]))
    binary = Objective(n_logits=1, class_sign=torch.tensor([-1.0, 1.0]))
    z = torch.tensor([[0.8]])
    assert float(binary.position({"logits": z})[0]) == pytest.approx(math.tanh(0.4))
    ret_only = Objective(return_head=True)
    assert float(ret_only.position({"ret": torch.tensor([0.5])})[0]) == pytest.approx(
        math.tanh(0.5)
    )


def test_trading_objective_rewards_the_right_sign_and_needs_order():
    obj = Objective(n_logits=1, trading="pnl", weights={"class": 0.0}, cost=0.0,
                    class_sign=torch.tensor([-1.0, 1.0]))  # fmt: skip
    fwd = [0.01, -0.02, 0.03]
    right = {"logits": torch.tensor([[9.0], [-9.0], [9.0]])}
    wrong = {"logits": torch.tensor([[-9.0], [9.0], [-9.0]])}
    loss_right, parts = obj(right, _batch([1, 0, 1], fwd))
    assert set(parts) == {"trading"}
    assert float(loss_right) == pytest.approx(-0.02, rel=1e-3)  # -(0.01 + 0.02 + 0.03) / 3
    assert float(obj(wrong, _batch([1, 0, 1], fwd))[0]) == pytest.approx(0.02, rel=1e-3)
    with pytest.raises(ModelError, match="time-ordered"):
        obj(right, _batch([1, 0, 1], fwd, time_dim=None))


def test_trading_turnover_is_not_charged_across_assets():
    obj = Objective(return_head=True, trading="pnl", weights={"return": 0.0}, cost=0.01)
    out = {"ret": torch.tensor([20.0, -20.0])}  # tanh: +1 then -1
    same = obj(out, _batch([0, 0], [0.0, 0.0], asset=[0, 0]))[0]
    split = obj(out, _batch([0, 0], [0.0, 0.0], asset=[0, 1]))[0]
    assert float(same) == pytest.approx(0.01 * 2 / 2) and float(split) == 0.0


def test_objective_rejects_bad_configuration():
    with pytest.raises(ModelError, match="class head, a return head"):
        Objective()
    with pytest.raises(ModelError, match="trading objective"):
        Objective(n_logits=1, trading="profit")
    with pytest.raises(ModelError, match="weight 0"):
        Objective(n_logits=1, weights={"class": 0.0})


def test_trading_loss_is_measured_in_forward_return_units():
    kw = dict(return_head=True, trading="pnl", weights={"return": 0.0}, cost=0.001)
    out = {"ret": torch.tensor([20.0, -20.0, 20.0])}
    batch = _batch([0, 0, 0], [0.002, -0.004, 0.001])
    raw = float(Objective(**kw)(out, batch)[0])
    scaled = float(Objective(**kw, fwd_scale=0.002)(out, batch)[0])
    assert raw == pytest.approx(-(0.002 + 0.004 - 0.002 + 0.001 - 0.002) / 3, rel=1e-4)
    assert scaled == pytest.approx(raw / 0.002, rel=1e-4)
