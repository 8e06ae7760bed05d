"""A saved model bundle as one object that predicts exactly as its run did.

This module owns reading `runs/<run>/models/<name>/` back: `load_bundle(dir)` rebuilds
the model (`Model.load`: params, learned state, weights) and the post-processing that
was fitted on the run's validation predictions (`model.json` -> `postprocess`: the
probability calibrator, the linear correction of `expected_return`, the frozen decision
thresholds). At prediction time:

    bundle.predict(samples)          # model.predict, then correction and calibration
    bundle.decisions(predictions)    # what the policy reads (frozen thresholds applied)
    bundle.policy()                  # the run's policy for those decisions

`samples` must be built as in the run (same feature set, the bundle's `scaler` state,
`window`); the bundle describes all of it in `meta`. Nothing is unpickled: the state is
JSON (and the model's own weight files).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edgelab.errors import ModelError
from edgelab.evaluate.postprocess import PostProcess, decision_policy, postprocess_from_dict
from edgelab.models.base import Model

__all__ = ["Bundle", "load_bundle"]


@dataclass
class Bundle:
    """A loaded bundle: `model`, its `meta` (model.json) and its `post`-processing."""

    directory: Path
    model: Model
    meta: dict[str, Any]
    post: PostProcess

    @property
    def window(self) -> int:
        return int(self.meta.get("window") or self.model.input_window())

    def predict(self, samples) -> pd.DataFrame:
        """Predictions as the run wrote them: the model's, corrected and calibrated.
        `samples`: `Samples` built like the run's (see module doc)."""
        samples = dataclasses.replace(samples, window=self.window)
        return self.post.apply(self.model.predict(samples))

    def decisions(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """What the policy reads: the predictions, or the frozen threshold decisions."""
        return self.post.decisions(predictions)

    def policy(self):
        """The policy of the run for `decisions(...)` frames."""
        from edgelab.backtest.policies import get_policy

        spec = self.meta.get("policy") or {"kind": "threshold", "params": {}}
        if self.post.thresholds is not None:
            return decision_policy(spec["kind"], spec.get("params") or {})
        return get_policy(spec["kind"], **(spec.get("params") or {}))


def load_bundle(directory: str | os.PathLike) -> Bundle:
    """Rebuild the bundle in `directory` (a run's `models/<name>/`)."""
    directory = Path(directory)
    path = directory / "model.json"
    if not path.is_file():
        raise ModelError(f"no model bundle at '{directory}' (model.json missing)")
    meta = json.loads(path.read_text())
    model = Model.load(directory)
    return Bundle(directory, model, meta, postprocess_from_dict(meta.get("postprocess")))
