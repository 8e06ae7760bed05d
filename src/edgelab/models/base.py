"""The model contract and the model registry.

Every model, baseline or deep, follows the scikit-learn-like contract:
`__init__(**params)` only stores hyper-parameters; `fit(train, val=None) -> self`;
`predict(samples) -> Predictions` (a DataFrame indexed like `samples.prediction_index()`
with columns `p_<class name>` for classifiers and/or `expected_return`); `save(dir)`
writes `model.json` (+ `weights.safetensors` for networks, never pickle) and
`Model.load(dir)` rebuilds it so that predictions are identical.

Registry: `@register_model("lstm")` on the class; `create_model("lstm", **params)`.
"""

from __future__ import annotations

import json
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from edgelab.dataset.samples import Samples
from edgelab.errors import ModelError, unknown_name

MODEL_REGISTRY: dict[str, type[Model]] = {}


def _file_mode() -> int:
    """0666 less the process umask: the mode `open()` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def register_model(name: str):
    """Class decorator adding a model class to the registry under `name`."""

    def wrap(cls: type[Model]) -> type[Model]:
        if name in MODEL_REGISTRY and MODEL_REGISTRY[name] is not cls:
            raise ModelError(f"model name '{name}' registered twice")
        cls.registry_name = name
        MODEL_REGISTRY[name] = cls
        return cls

    return wrap


def model_names() -> list[str]:
    _import_builtin_models(deep=True)
    return sorted(MODEL_REGISTRY)


def get_model_class(name: str) -> type[Model]:
    _import_builtin_models(deep=False)
    if name not in MODEL_REGISTRY:
        _import_builtin_models(deep=True)  # torch is heavy: only when a network is asked for
    if name not in MODEL_REGISTRY:
        raise ModelError(unknown_name("model", name, MODEL_REGISTRY))
    return MODEL_REGISTRY[name]


def create_model(name: str, **params: Any) -> Model:
    return get_model_class(name)(**params)


def _import_builtin_models(deep: bool = True) -> None:
    """Import the modules whose classes register themselves: the baselines always, the
    deep models (PyTorch, seconds to import) only with `deep`."""
    import importlib

    modules = ["edgelab.models.baselines"]
    if deep:
        modules += ["edgelab.models.deep", "edgelab.models.tokens"]
    for module in modules:
        importlib.import_module(module)


class Model(ABC):
    """Base class: subclasses set `task` and implement fit / predict / state."""

    registry_name: ClassVar[str] = ""
    # "class": predicts class probabilities; "return": predicts expected_return; "both".
    task: ClassVar[str] = "class"
    # True when the model consumes sequence windows (Samples.window > 1).
    sequential: ClassVar[bool] = False

    # Small hyper-parameters that make the model fit in well under a second, used by
    # the contract test that runs over the whole registry (deep models set epochs=1 etc.).
    smoke_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        self.params = params

    def input_window(self) -> int:
        """Rows of `Samples.X` each prediction reads (1; lags for lagged baselines; the
        sequence length for sequence models). The pipeline builds Samples with at least
        this window."""
        return 1

    def supports(self, target: str) -> bool:
        """Whether the model can fit Samples with this `target` ("class" or "return");
        the pipeline asks before any work. Default True: the model decides at fit."""
        return True

    def history(self) -> int:
        """Bars before a target row the model reads, counting non-feature inputs such as
        the raw closes of a moving average; the pipeline keeps that many context rows."""
        return self.input_window() - 1

    @abstractmethod
    def fit(self, train: Samples, val: Samples | None = None) -> Model: ...

    @abstractmethod
    def predict(self, samples: Samples) -> pd.DataFrame: ...

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    # --- persistence -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON-serializable learned state (small models); networks also write weights."""
        return {}

    def set_state(self, state: dict[str, Any], directory: Path) -> None:  # noqa: B027 (optional hook)
        """Restore learned state written by `state` / `save_extra`."""

    def save_extra(self, directory: Path) -> None:  # noqa: B027 (optional hook)
        """Write weight files beside model.json (networks: weights.safetensors)."""

    def save(self, directory: str | os.PathLike, extra_meta: dict[str, Any] | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.save_extra(directory)
        meta = {
            "type": self.registry_name,
            "params": self.get_params(),
            "state": self.state(),
            **(extra_meta or {}),
        }
        write_json_atomic(directory / "model.json", meta)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Model:
        directory = Path(directory)
        path = directory / "model.json"
        if not path.is_file():
            raise ModelError(f"no model bundle at '{directory}' (model.json missing)")
        meta = json.loads(path.read_text())
        klass = get_model_class(meta["type"]) if cls is Model else cls
        model = klass(**meta.get("params", {}))
        model.set_state(meta.get("state", {}), directory)
        return model


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON through a temp file and rename, so a crash never leaves half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; bundles are ordinary files
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2, sort_keys=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def class_columns(label_map: dict[int, str]) -> list[str]:
    """Prediction column names in code order: `p_<name>`."""
    return [f"p_{label_map[k]}" for k in sorted(label_map)]
