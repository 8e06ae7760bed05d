"""Baseline models every leaderboard carries: buy & hold, SMA cross, logistic, LightGBM.

All follow the `Model` contract of `edgelab.models.base` (fit / predict / save / load,
state as JSON, never pickle):

- `buy_hold`: always long. Classifier output: the long class (label sign +1, e.g. `up`)
  has probability 1. Return target: `expected_return` = mean |train target| (> 0).
- `sma_cross` (`fast=50`, `slow=200`): long when the simple moving average of the raw
  close over `fast` bars is above the one over `slow` bars, short when below. It reads
  the raw closes in `samples.meta["close"]` (put there by `dataset.build`), per asset,
  using bars up to and including t. Until `slow` closes exist (the first rows of the
  data) it is neutral: the class with sign 0 if the label map has one, else uniform
  probabilities. Its `history()` is `slow - 1`, so the pipeline keeps that many context
  rows and every validation/test row has a full average.
- `logistic`: scikit-learn `LogisticRegression` (newton-cholesky: exact, deterministic
  and ~50x faster than lbfgs on collinear lagged features) on lagged
  features: the last `lags` rows of scaled features per sample, flattened
  (lags x n_features inputs, oldest first). Classification only. State: coefficients.
- `lightgbm`: `LGBMClassifier` / `LGBMRegressor` on the same lagged features, CPU,
  `deterministic=True`, `n_jobs=1`, seeded; early stopping on the validation split when
  given. State: LightGBM's own text model format (`booster.txt` beside model.json).

Class-probability columns are always the full label map (`p_<name>` in code order),
even when a class is absent from the training targets (its probability is then 0).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError
from edgelab.models.base import Model, class_columns, register_model


def _frame(samples: Samples, proba: np.ndarray | None, expected: np.ndarray | None) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    if proba is not None:
        for j, name in enumerate(class_columns(samples.label_map)):
            cols[name] = proba[:, j]
    if expected is not None:
        cols["expected_return"] = expected
    return pd.DataFrame(cols, index=samples.prediction_index())


def _sign_proba(samples: Samples, signal: np.ndarray) -> np.ndarray:
    """Probabilities putting all mass on the class whose label sign equals `signal`
    (+1, -1) and, where the signal is 0, on the sign-0 class (or uniform if none)."""
    sign = samples.meta.get("label_sign")
    if not sign:
        raise ModelError(
            "rule baselines need samples.meta['label_sign'] (code -> +1/0/-1); build Samples "
            "with edgelab.dataset.build"
        )
    k = samples.n_classes
    proba = np.zeros((len(signal), k))
    by_sign = {s: c for c, s in sign.items()}
    for s in (1, -1):
        if s in by_sign:
            proba[signal == s, by_sign[s]] = 1.0
    neutral = (signal == 0) | (proba.sum(axis=1) == 0)
    if 0 in by_sign:
        proba[neutral] = 0.0
        proba[neutral, by_sign[0]] = 1.0
    else:
        proba[neutral] = 1.0 / k
    return proba


def _check_target(model: Model, samples: Samples) -> None:
    if samples.target == "return" and model.task == "class":
        raise ModelError(
            f"model '{model.registry_name}' is a classifier; labels.kind forward_return needs "
            "a return model (lightgbm, buy_hold, sma_cross)"
        )
    if len(samples) == 0:
        raise ModelError(f"model '{model.registry_name}': no training rows")


class _RuleModel(Model):
    """A model whose signal is a rule (+1 / 0 / -1 per target row)."""

    task = "both"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.scale_: float = 1.0

    def signal(self, samples: Samples) -> np.ndarray:
        raise NotImplementedError

    def fit(self, train: Samples, val: Samples | None = None) -> _RuleModel:
        _check_target(self, train)
        if train.target == "return":
            self.scale_ = float(np.mean(np.abs(train.targets()))) or 1.0
        return self

    def predict(self, samples: Samples) -> pd.DataFrame:
        signal = self.signal(samples)
        if samples.target == "return":
            return _frame(samples, None, signal * self.scale_)
        return _frame(samples, _sign_proba(samples, signal), None)

    def state(self) -> dict[str, Any]:
        return {"scale": self.scale_}

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        self.scale_ = float(state.get("scale", 1.0))


@register_model("buy_hold")
class BuyHold(_RuleModel):
    """Always long (see module doc)."""

    def __init__(self) -> None:  # no hyper-parameters: unknown params are errors
        super().__init__()

    def signal(self, samples: Samples) -> np.ndarray:
        return np.ones(len(samples), dtype=np.int64)


@register_model("sma_cross")
class SmaCross(_RuleModel):
    """Long when SMA(close, fast) > SMA(close, slow), short when below (see module doc)."""

    smoke_params = {"fast": 3, "slow": 8}

    def __init__(self, fast: int = 50, slow: int = 200) -> None:
        if not (isinstance(fast, int) and isinstance(slow, int) and 1 <= fast < slow):
            raise ModelError(
                f"sma_cross needs integers 1 <= fast < slow, got fast={fast}, slow={slow}"
            )
        super().__init__(fast=fast, slow=slow)

    def history(self) -> int:
        return self.params["slow"] - 1

    def signal(self, samples: Samples) -> np.ndarray:
        close = samples.meta.get("close")
        if close is None or len(close) != len(samples.X):
            raise ModelError("sma_cross needs samples.meta['close'] (raw close per row of X)")
        frame = pd.DataFrame({"close": close, "asset": samples.asset})
        group = frame.groupby("asset", sort=False)["close"]
        fast = group.transform(lambda s: s.rolling(self.params["fast"]).mean()).to_numpy()
        slow = group.transform(lambda s: s.rolling(self.params["slow"]).mean()).to_numpy()
        sig = np.sign(fast - slow)
        sig[~np.isfinite(sig)] = 0  # no full slow average yet: neutral (documented)
        return sig[samples.rows].astype(np.int64)


def lagged_features(samples: Samples, lags: int) -> np.ndarray:
    """The last `lags` rows of features per target, flattened oldest first: (n, lags * f)."""
    if samples.window < lags:
        raise ModelError(
            f"lagged features need Samples.window >= lags ({lags}), got {samples.window}"
        )
    windows = samples.windows()  # (n, window, f), a strided view
    return np.ascontiguousarray(windows[:, -lags:, :]).reshape(len(samples), -1)


def _check_lags(lags: Any) -> int:
    if isinstance(lags, bool) or not isinstance(lags, int) or lags < 1:
        raise ModelError(f"parameter 'lags' must be an integer >= 1, got {lags!r}")
    return lags


def _full_proba(part: np.ndarray, classes: list[int], k: int) -> np.ndarray:
    """Spread probabilities over the trained `classes` into all k columns."""
    out = np.zeros((len(part), k))
    out[:, classes] = part
    return out


@register_model("logistic")
class Logistic(Model):
    """Logistic regression on lagged features (see module doc)."""

    task = "class"
    smoke_params = {"lags": 2}

    def __init__(
        self,
        lags: int = 5,
        C: float = 1.0,
        max_iter: int = 1000,
        class_weight: str | None = None,
        solver: str = "newton-cholesky",
    ) -> None:
        super().__init__(
            lags=_check_lags(lags), C=C, max_iter=max_iter, class_weight=class_weight, solver=solver
        )
        self.estimator_ = None

    def input_window(self) -> int:
        return self.params["lags"]

    def supports(self, target: str) -> bool:
        return target == "class"

    def _estimator(self):
        from sklearn.linear_model import LogisticRegression

        p = self.params
        return LogisticRegression(
            C=p["C"], max_iter=p["max_iter"], class_weight=p["class_weight"], solver=p["solver"]
        )

    def fit(self, train: Samples, val: Samples | None = None) -> Logistic:
        _check_target(self, train)
        y = train.targets().astype(np.int64)
        if len(np.unique(y)) < 2:
            raise ModelError("logistic: the training targets hold a single class")
        # float64 inputs: the coefficients are then float64 and survive JSON exactly.
        X = lagged_features(train, self.params["lags"]).astype(np.float64)
        self.estimator_ = self._estimator().fit(X, y)
        self.n_classes_ = train.n_classes
        return self

    def predict(self, samples: Samples) -> pd.DataFrame:
        if self.estimator_ is None:
            raise ModelError("logistic: predict before fit")
        X = lagged_features(samples, self.params["lags"]).astype(np.float64)
        part = self.estimator_.predict_proba(X)
        classes = [int(c) for c in self.estimator_.classes_]
        return _frame(samples, _full_proba(part, classes, samples.n_classes), None)

    def state(self) -> dict[str, Any]:
        if self.estimator_ is None:
            return {}
        est = self.estimator_
        return {
            "coef": est.coef_.tolist(),
            "intercept": est.intercept_.tolist(),
            "classes": [int(c) for c in est.classes_],
        }

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        if not state:
            return
        est = self._estimator()
        est.coef_ = np.asarray(state["coef"], dtype=np.float64)
        est.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
        est.classes_ = np.asarray(state["classes"])
        est.n_features_in_ = est.coef_.shape[1]
        self.estimator_ = est


@register_model("lightgbm")
class LightGBM(Model):
    """Gradient-boosted trees on lagged features, CPU and deterministic (see module doc)."""

    task = "both"
    smoke_params = {"lags": 2, "n_estimators": 10, "num_leaves": 4, "min_child_samples": 5}

    def __init__(
        self,
        lags: int = 5,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        seed: int = 42,
        n_jobs: int = 1,
    ) -> None:
        params = dict(locals())
        params.pop("self")
        params.pop("__class__", None)
        params["lags"] = _check_lags(lags)
        super().__init__(**params)
        self.booster_ = None
        self.classes_: list[int] = []

    def input_window(self) -> int:
        return self.params["lags"]

    def _estimator(self, target: str):
        import lightgbm as lgb

        p = {
            k: v
            for k, v in self.params.items()
            if k not in ("lags", "early_stopping_rounds", "seed")
        }
        common = dict(
            random_state=self.params["seed"],
            deterministic=True,
            force_row_wise=True,
            subsample_freq=1,
            verbose=-1,
            **p,
        )
        return lgb.LGBMRegressor(**common) if target == "return" else lgb.LGBMClassifier(**common)

    def fit(self, train: Samples, val: Samples | None = None) -> LightGBM:
        import lightgbm as lgb

        _check_target(self, train)
        lags = self.params["lags"]
        X, y = lagged_features(train, lags), train.targets()
        if train.target == "class" and len(np.unique(y)) < 2:
            raise ModelError("lightgbm: the training targets hold a single class")
        est = self._estimator(train.target)
        kwargs: dict[str, Any] = {}
        rounds = self.params["early_stopping_rounds"]
        if val is not None and len(val) and rounds > 0:
            X_val, y_val = lagged_features(val, lags), val.targets()
            # LightGBM >= 4.6 renamed eval_set; keep both versions quiet and working.
            if "eval_X" in inspect.signature(est.fit).parameters:
                kwargs.update(eval_X=(X_val,), eval_y=(y_val,))
            else:
                kwargs["eval_set"] = [(X_val, y_val)]
            kwargs["callbacks"] = [lgb.early_stopping(rounds, verbose=False)]
        est.fit(X, y, **kwargs)
        self.booster_ = est.booster_
        self.classes_ = [int(c) for c in est.classes_] if train.target == "class" else []
        self.best_iteration_ = int(est.best_iteration_ or 0)
        return self

    def predict(self, samples: Samples) -> pd.DataFrame:
        if self.booster_ is None:
            raise ModelError("lightgbm: predict before fit")
        X = lagged_features(samples, self.params["lags"])
        iters = self.best_iteration_ if self.best_iteration_ > 0 else None
        raw = self.booster_.predict(X, num_iteration=iters)
        if not self.classes_:
            return _frame(samples, None, np.asarray(raw, dtype=np.float64))
        part = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        return _frame(samples, _full_proba(part, self.classes_, samples.n_classes), None)

    def state(self) -> dict[str, Any]:
        return {"classes": self.classes_, "best_iteration": getattr(self, "best_iteration_", 0)}

    def save_extra(self, directory: Path) -> None:
        if self.booster_ is None:
            return
        text = self.booster_.model_to_string()
        tmp = directory / ".booster.txt.tmp"
        tmp.write_text(text)
        tmp.replace(directory / "booster.txt")

    def set_state(self, state: dict[str, Any], directory: Path) -> None:
        import lightgbm as lgb

        self.classes_ = [int(c) for c in state.get("classes", [])]
        self.best_iteration_ = int(state.get("best_iteration", 0))
        path = Path(directory) / "booster.txt"
        if path.is_file():
            self.booster_ = lgb.Booster(model_str=path.read_text())
