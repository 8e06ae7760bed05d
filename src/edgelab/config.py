"""Experiment configuration: pydantic models for every stage, loaded from YAML.

One YAML file describes a whole experiment (data, features, labels, split, scaling,
models, policy, backtest, tracking, report). Unknown keys are errors that name their
path and suggest the closest valid key (`data.sourse` -> did you mean `source`?); a wrong
type names the field and the expected type. Components are chosen by registry name
(`type: lstm`), never by import path. CLI overrides (`data.source=sample:sp500_1d`) go
through the same validation.
"""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgelab.errors import ConfigError, did_you_mean

PROVENANCE_KEY = "provenance"


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(StrictModel):
    """Where bars come from. `source` is a source spec: `sample:NAME`, `synthetic:k=v,...`,
    a file path, or `cache:EXCHANGE/SYMBOL/INTERVAL`."""

    source: str = "sample:eurusd_1h"
    symbols: list[str] | None = Field(None, description="subset of the source's assets")
    interval: str | None = Field(None, description="resample to this coarser interval")
    start: datetime | None = None
    end: datetime | None = None
    policy: Literal["strict", "repair"] = "repair"
    calendar: Literal["auto", "crypto", "equity", "fx"] = "auto"
    data_dir: str | None = None

    @model_validator(mode="after")
    def _span(self) -> DataConfig:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class FeaturesConfig(StrictModel):
    """A named feature set (`edgelab features list`) and its parameters.

    `leak_next_return` adds the NEXT bar's return as a feature column: a deliberate
    look-ahead leak that exists only so the leakage canary can prove it fails. It is
    refused unless `allow_leak` is also true, and every output of such a run says so.
    """

    set: str = "core13"
    params: dict[str, Any] = Field(default_factory=dict)
    leak_next_return: bool = False
    allow_leak: bool = False

    @model_validator(mode="after")
    def _leak_needs_consent(self) -> FeaturesConfig:
        if self.leak_next_return and not self.allow_leak:
            raise ValueError(
                "leak_next_return adds the NEXT bar's return as a feature (a deliberate "
                "look-ahead leak, for the leakage canary only); set features.allow_leak: true "
                "to confirm, or remove it"
            )
        return self


class LabelsConfig(StrictModel):
    """What the models predict. `horizon` is in bars; barrier labels look ahead at most
    `max_horizon` bars."""

    kind: Literal["direction", "forward_return", "barrier"] = "direction"
    horizon: int = Field(1, ge=1)
    classes: Literal[2, 3] = 2
    dead_band: float = Field(0.0, ge=0.0)
    dead_band_unit: Literal["fraction", "atr"] = "fraction"
    return_kind: Literal["simple", "log"] = "simple"
    tp_atr: float = Field(1.5, gt=0.0)
    sl_atr: float = Field(1.0, gt=0.0)
    atr_window: int = Field(14, ge=1)
    max_horizon: int = Field(24, ge=1)
    heikin_ashi: bool = False

    @property
    def lookahead(self) -> int:
        """How many bars past its row a label may look: what splits must leave as a gap."""
        return self.max_horizon if self.kind == "barrier" else self.horizon


class SplitConfig(StrictModel):
    """Chronological train / validation / test split.

    `test` is the start of the test span: a fraction of the data (0.2 = last 20%) or a
    date. `val` is a fraction of the pre-test span (default its last 10%) or a date.
    `gap` (bars) separates the spans; default and minimum: the labels' look-ahead.
    """

    test: float | datetime = 0.2
    val: float | datetime = 0.1
    train_start: datetime | None = None
    gap: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _order(self) -> SplitConfig:
        for name in ("test", "val"):
            value = getattr(self, name)
            if isinstance(value, float) and not 0.0 < value < 1.0:
                raise ValueError(f"{name} as a fraction must be between 0 and 1, got {value}")
        if (
            isinstance(self.test, datetime)
            and isinstance(self.val, datetime)
            and self.val >= self.test
        ):
            raise ValueError(f"val start {self.val} must be before test start {self.test}")
        if self.train_start is not None:
            for name in ("val", "test"):
                value = getattr(self, name)
                if isinstance(value, datetime) and value <= self.train_start:
                    raise ValueError(
                        f"{name} start {value} must be after train_start {self.train_start}"
                    )
        return self


class ScalingConfig(StrictModel):
    """Feature scaling fitted on the training window only; its state is saved as JSON."""

    method: Literal["standard", "robust", "none"] = "standard"


class CalibrationConfig(StrictModel):
    """Probability calibration fitted on the validation predictions only, applied to
    validation, test and live predictions (state saved in each model bundle).
    `linear_correction` rescales regression outputs (`expected_return`) by a slope and
    intercept fitted on validation. Rule baselines (buy & hold, SMA cross) are left as is."""

    method: Literal["none", "platt", "isotonic", "temperature"] = "none"
    bins: int = Field(10, ge=2, le=100, description="bins of ECE/MCE and the reliability diagram")
    linear_correction: bool = False


class ThresholdsConfig(StrictModel):
    """Decision thresholds searched on validation and frozen for test.

    The score is p(long) - p(short) (or `expected_return`); at threshold t the position
    is long above t, short below -t (`side: both`) or flat. `objective` picks t: `f1`
    (long side only), `sharpe` (bar by bar after costs) or `avg_profit` (per trade held
    the label horizon, after a round trip of costs); costs are the backtest's fee +
    slippage + spread. `per_asset` searches one threshold per asset. With `none` the
    policy's own parameters decide."""

    objective: Literal["none", "f1", "sharpe", "avg_profit"] = "none"
    per_asset: bool = False
    side: Literal["both", "long"] = "both"
    grid: list[float] | None = Field(None, description="thresholds to try (default: quantiles)")
    min_trades: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _f1_is_long_only(self) -> ThresholdsConfig:
        if self.objective == "f1" and self.side != "long":
            raise ValueError("objective f1 scores the long class only; set side: long")
        return self


class EvaluationConfig(StrictModel):
    """Uncertainty of the results: seeded block-bootstrap intervals and the paired test
    against the best baseline. `baselines`: model names compared against (default: the
    models of type buy_hold, sma_cross, logistic and lightgbm)."""

    n_boot: int = Field(1000, ge=50)
    level: float = Field(0.95, gt=0.5, lt=1.0)
    block: float | None = Field(None, ge=1.0, description="bootstrap block length (bars)")
    baselines: list[str] | None = None


class WalkForwardConfig(StrictModel):
    """`edgelab walkforward`: retrain every `step` bars on an `expanding` or `rolling`
    window of `train_size` bars (its last `val_size` bars validate), `embargo` bars
    between spans (default and minimum: the labels' look-ahead). Unset sizes default to
    fractions of the timeline: train 40 %, step 10 %, validation 10 % of train_size.
    `mode: finetune` continues the previous fold's model where the model supports it."""

    window: Literal["expanding", "rolling"] = "expanding"
    train_size: int | None = Field(None, ge=20)
    step: int | None = Field(None, ge=1)
    val_size: int | None = Field(None, ge=5)
    embargo: int | None = Field(None, ge=0)
    mode: Literal["retrain", "finetune"] = "retrain"


class CanaryConfig(StrictModel):
    """`edgelab canary`: the configured pipeline on synthetic random walks (`seeds`) and
    on a planted AR(1) signal of `strength`, `n_bars` bars each (small and fast)."""

    n_bars: int = Field(3000, ge=300)
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3])
    strength: float = Field(0.3, gt=0.0, lt=1.0)
    interval: str = "1h"
    assets: int = Field(1, ge=1)
    family_error: float = Field(0.05, gt=0.0, lt=0.5)


class ModelConfig(StrictModel):
    """One model on the leaderboard: a display `name`, a registry `type`, its params."""

    name: str
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    window: int | None = Field(None, ge=1, description="sequence length for sequence models")


class PolicyConfig(StrictModel):
    """How predictions become positions (registry name and params)."""

    kind: str = "threshold"
    params: dict[str, Any] = Field(default_factory=dict)


class CostsConfig(StrictModel):
    """Trading costs, never zero by default. Spread applies when bars have no bid/ask."""

    fee_bps: float = Field(10.0, ge=0.0)
    slippage_bps: float = Field(2.0, ge=0.0)
    spread_bps: float = Field(2.0, ge=0.0)
    use_bid_ask: bool = True


class BacktestConfig(StrictModel):
    costs: CostsConfig = Field(default_factory=CostsConfig)
    calendar: Literal["auto", "crypto", "equity", "fx"] = "auto"
    weights: dict[str, float] | None = None


class TrackingConfig(StrictModel):
    mlflow: bool = False
    mlflow_uri: str | None = None
    runs_dir: str = "runs"


class ReportConfig(StrictModel):
    html: bool = True
    plots: bool = True
    trade_rows: int = Field(200, ge=0, description="trades listed per model in report.html")


class ExperimentConfig(StrictModel):
    """A whole experiment; `edgelab run CONFIG` executes it into a run folder."""

    name: str = "default"
    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    scaling: ScalingConfig = Field(default_factory=ScalingConfig)
    models: list[ModelConfig] = Field(
        default_factory=lambda: [ModelConfig(name="logreg", type="logistic")]
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    walkforward: WalkForwardConfig = Field(default_factory=WalkForwardConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> ExperimentConfig:
        if not self.models:
            raise ValueError("models: list at least one model")
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _gap_covers_labels(self) -> ExperimentConfig:
        gap, need = self.split.gap, self.labels.lookahead
        if gap is not None and gap < need:
            raise ValueError(
                f"split.gap {gap} is shorter than the labels' look-ahead ({need} bars): labels "
                f"would straddle split boundaries; set split.gap >= {need} or leave it unset"
            )
        return self


# --- loading and error reporting -------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The classes inside Optional[...] / list[...] / dict[str, ...] / unions."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow a pydantic error location through nested models (list indices skipped)."""
    current: type[BaseModel] | None = root
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        models = [
            c for c in _unwrap(field.annotation) if isinstance(c, type) and issubclass(c, BaseModel)
        ]
        current = models[0] if models else None
    return current


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or part.startswith(("function-", "union[")):
            continue
        else:
            out += f".{part}" if out else part
    return out or "<root>"


def _describe(exc: ValidationError, root: type[BaseModel], origin: str) -> str:
    lines = []
    for err in exc.errors():
        # Drop pydantic's own tags ('list[ModelConfig]', 'function-after[...]'); the last
        # part of an unknown-key error is the user's key and is kept whatever it looks like.
        raw = tuple(err["loc"])
        keep_last = err["type"] == "extra_forbidden" and raw
        head = raw[:-1] if keep_last else raw
        loc = tuple(p for p in head if not (isinstance(p, str) and "[" in p))
        loc = loc + raw[-1:] if keep_last else loc
        path = _format_path(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            valid = list(parent.model_fields) if parent else []
            hint = did_you_mean(str(loc[-1]), valid)
            known = f"; valid keys: {', '.join(valid)}" if valid else ""
            lines.append(f"unknown key '{path}'{hint}{known}")
        elif err["type"] == "missing":
            lines.append(f"missing key '{path}'")
        else:
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            lines.append(f"'{path}': {err['msg']}{got_text}")
    # Union members report one error each; keep the message short and unique.
    unique = list(dict.fromkeys(lines))
    return f"{origin}: invalid config: " + "; ".join(unique[:6])


def parse_config(data: dict[str, Any] | None, origin: str = "config") -> ExperimentConfig:
    """Validate a config mapping; raise ConfigError naming each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: a config must be a mapping of sections, got {type(data).__name__}"
        )
    # A run folder's config.yaml carries a `provenance:` block (fingerprints, versions);
    # it describes the run rather than configuring it, so a re-run ignores it.
    data = {k: v for k, v in data.items() if k != PROVENANCE_KEY}
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, ExperimentConfig, origin)) from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a config mapping."""
    data = yaml.safe_load(yaml.safe_dump(data)) or {}  # deep copy through plain types
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        key, raw = item.split("=", 1)
        parts = _key_path(key.strip(), item)
        node: Any = data
        for part, after in zip(parts[:-1], parts[1:], strict=True):
            node = _step(node, part, item, make=[] if isinstance(after, int) else {})
        _assign(node, parts[-1], yaml.safe_load(raw), item)
    return data


def _key_path(key: str, item: str) -> list[str | int]:
    """`models[1].params.lags` or `models.1.params.lags` -> ['models', 1, 'params', 'lags']."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", key):
        parts.append(int(index) if index else int(name) if name.isdigit() else name)
    if not parts:
        raise ConfigError(f"override '{item}' must look like section.key=value")
    return parts


def _step(node: Any, part: str | int, item: str, make: Any) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list) or not -len(node) <= part < len(node):
            size = len(node) if isinstance(node, list) else 0
            raise ConfigError(f"override '{item}': no item [{part}] (the list has {size})")
        return node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"override '{item}': '{part}' is inside a value, not a section")
    child = node.setdefault(part, make)
    if not isinstance(child, dict | list):
        raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
    return child


def _assign(node: Any, part: str | int, value: Any, item: str) -> None:
    if isinstance(part, int):
        _step(node, part, item, None)  # checks the index
    elif not isinstance(node, dict):
        raise ConfigError(f"override '{item}': '{part}' is inside a value, not a section")
    node[part] = value


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> ExperimentConfig:
    """Load a YAML config (None: all defaults), apply overrides, validate."""
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        path = Path(path)
        origin = str(path)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(
                f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"
            ) from None
    if overrides:
        data = apply_overrides(data, overrides)
    return parse_config(data, origin)


def dump_config(config: ExperimentConfig) -> str:
    """The resolved config as YAML, defaults filled in."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
