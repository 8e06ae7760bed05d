"""Bars + features + labels + split + scaling -> `Samples` for train, val and test.

This module owns the assembly of model inputs (`build_dataset`):

- Feature warm-up rows (`FeatureFrame.attrs["warmup"]`) are dropped per asset; after them
  every feature must be finite, or a `FeatureError` names the asset, column and row.
- The scaler is fitted on the rows of the train span only (`Split.train`) and applied to
  every row, so validation and test are scaled with train statistics.
- Each split's `Samples` keeps `context` rows before the split's first bar (per asset),
  so sequence windows, lagged features and moving averages at the split start read
  earlier, causal features. Those context rows carry no target (`y` is NaN there).
- Targets are the labeled rows inside the span whose label outcome (`t_end`) is known
  before the next span starts (`Split.purge_mask`), and whose `window` lies in one asset.
- Class codes are mapped to 0..k-1 in label-map order; `forward_return` is the labels'
  forward return (computed from closes over `Labels.horizon` when a labeler has none).
- `meta` carries what rule-based baselines need besides scaled features: `close` (raw
  close per row, float64), `label_sign` (code -> +1/0/-1), the split name and horizon.

A fourth `Samples`, `trade`, covers every test-span row with features, labeled or not
(the last bars of the data have no label but still get a position in the backtest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edgelab.dataset.samples import Samples, valid_window_rows
from edgelab.dataset.scaling import Scaler
from edgelab.dataset.splits import Split
from edgelab.errors import ConfigError, FeatureError, LabelError
from edgelab.labels.base import Labels

SPLITS = ("train", "val", "test", "trade")


@dataclass
class Dataset:
    """The four Samples of an experiment and what produced them."""

    samples: dict[str, Samples]
    scaler: Scaler
    split: Split
    feature_names: list[str]
    assets: list[str]
    label_map: dict[int, str]
    label_sign: dict[int, int]
    target: str
    horizon: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Samples:
        return self.samples[name]


@dataclass
class _Stacked:
    """All assets' rows after warm-up, stacked asset after asset."""

    X: np.ndarray  # float64 (n, f), unscaled
    y: np.ndarray
    t_end: np.ndarray  # datetime64
    forward_return: np.ndarray
    close: np.ndarray
    index: pd.DatetimeIndex
    asset: np.ndarray  # int32
    bounds: list[tuple[int, int]]  # [start, stop) of each asset


def _check_finite(name: str, frame: pd.DataFrame) -> np.ndarray:
    values = frame.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise FeatureError(
            f"asset '{name}': feature '{frame.columns[col]}' is NaN/inf at {frame.index[row]} "
            f"(row {row} after the warm-up of {frame.attrs.get('warmup', 0)} rows); features "
            "may be NaN only during their warm-up"
        )
    return values


def code_map(label_map: dict[int, str]) -> tuple[dict[int, str], dict[int, int]]:
    """Label map re-coded to 0..k-1 in code order, and old code -> new code."""
    codes = sorted(label_map)
    remap = {old: new for new, old in enumerate(codes)}
    return {remap[c]: label_map[c] for c in codes}, remap


def _recode(y: np.ndarray, remap: dict[int, int], asset: str) -> np.ndarray:
    out = np.full(len(y), np.nan)
    for old, new in remap.items():
        out[y == old] = new
    stray = np.isfinite(y) & ~np.isfinite(out)
    if stray.any():
        raise LabelError(f"asset '{asset}': label code {y[stray][0]} is not in the label map")
    return out


def _naive_ns(times: pd.Series) -> np.ndarray:
    """datetime64[ns] without a zone, in UTC (NaT kept): fast to compare, unlike the
    object arrays pandas returns for zone-aware times."""
    idx = pd.DatetimeIndex(times)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.as_unit("ns").to_numpy()


def _forward_return(labels: Labels, close: np.ndarray) -> np.ndarray:
    if "forward_return" in labels.frame.columns:
        return labels.frame["forward_return"].to_numpy(dtype=np.float64)
    h = labels.horizon
    out = np.full(len(close), np.nan)
    out[:-h] = close[h:] / close[:-h] - 1.0
    return out


def stack_rows(
    bars: dict[str, pd.DataFrame],
    features: dict[str, pd.DataFrame],
    labels: dict[str, Labels],
    remap: dict[int, int],
) -> _Stacked:
    parts: dict[str, list] = {k: [] for k in ("X", "y", "t", "fr", "c", "i", "a")}
    bounds, start = [], 0
    for aid, name in enumerate(bars):
        feats, lab = features[name], labels[name]
        if not feats.index.equals(bars[name].index) or not lab.index.equals(bars[name].index):
            raise FeatureError(
                f"asset '{name}': features and labels must share the bars' index "
                f"({len(bars[name])} bars, {len(feats)} feature rows, {len(lab)} label rows)"
            )
        warm = int(feats.attrs.get("warmup", 0))
        kept = feats.iloc[warm:]
        if len(kept) == 0:
            raise FeatureError(
                f"asset '{name}': the feature warm-up ({warm} rows) uses all {len(feats)} bars"
            )
        close = bars[name]["close"].to_numpy(dtype=np.float64)
        y = lab.label.to_numpy(dtype=np.float64)
        if any(old != new for old, new in remap.items()):
            y = _recode(y, remap, name)
        parts["X"].append(_check_finite(name, kept))
        parts["y"].append(y[warm:])
        parts["t"].append(_naive_ns(lab.t_end)[warm:])
        parts["fr"].append(_forward_return(lab, close)[warm:])
        parts["c"].append(close[warm:])
        parts["i"].append(kept.index)
        parts["a"].append(np.full(len(kept), aid, dtype=np.int32))
        bounds.append((start, start + len(kept)))
        start += len(kept)
    index = parts["i"][0].append(parts["i"][1:]) if len(parts["i"]) > 1 else parts["i"][0]
    return _Stacked(
        X=np.concatenate(parts["X"]),
        y=np.concatenate(parts["y"]),
        t_end=np.concatenate(parts["t"]),
        forward_return=np.concatenate(parts["fr"]),
        close=np.concatenate(parts["c"]),
        index=pd.DatetimeIndex(index, name="timestamp"),
        asset=np.concatenate(parts["a"]),
        bounds=bounds,
    )


def _split_rows(
    st: _Stacked, split: Split, name: str, context: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (into the stack) of one split with its context, and their target mask."""
    span = "test" if name == "trade" else name
    inside = split.span(span).mask(st.index)
    if name == "trade":
        target = inside
    else:
        target = split.purge_mask(span, st.index, st.t_end) & np.isfinite(st.y)
    take, is_target = [], []
    for lo, hi in st.bounds:
        pos = np.flatnonzero(inside[lo:hi])
        if len(pos) == 0:
            continue
        first, last = lo + pos[0], lo + pos[-1]
        begin = max(lo, first - context)
        take.append(np.arange(begin, last + 1))
        is_target.append(target[begin : last + 1])
    if not take:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    return np.concatenate(take), np.concatenate(is_target)


def _samples(
    st: _Stacked, X: np.ndarray, split: Split, name: str, ds: Dataset, context: int, window: int
) -> Samples:
    """One split's Samples: its rows with `context` earlier rows per asset, targets purged."""
    rows_all, is_target = _split_rows(st, split, name, context)
    asset = st.asset[rows_all]
    rows = valid_window_rows(asset, is_target, window)
    if name != "trade" and len(rows) == 0:
        raise ConfigError(
            f"the {name} split has no labeled rows after purging (span "
            f"{split.span(name).start} .. {split.span(name).end}); load more data or "
            "shorten labels.horizon"
        )
    y = np.full(len(rows_all), np.nan)
    y[rows] = st.y[rows_all[rows]]
    # One asset: the rows form one contiguous block, so slicing keeps X a view.
    lo, hi = (rows_all[0], rows_all[-1] + 1) if len(rows_all) else (0, 0)
    contiguous = len(rows_all) == hi - lo
    ds.counts[name] = {"rows": len(rows_all), "targets": len(rows)}
    return Samples(
        X=X[lo:hi] if contiguous else X[rows_all],
        y=y,
        index=st.index[rows_all],
        asset=asset,
        rows=rows,
        feature_names=ds.feature_names,
        assets=ds.assets,
        label_map=ds.label_map,
        target=ds.target,
        window=window,
        forward_return=st.forward_return[rows_all],
        t_end=st.t_end[rows_all],
        meta={
            "close": st.close[rows_all],
            "label_sign": ds.label_sign,
            "split": name,
            "horizon": ds.horizon,
        },
    )


def build_dataset(
    bars: dict[str, pd.DataFrame],
    features: dict[str, pd.DataFrame],
    labels: dict[str, Labels],
    split: Split,
    *,
    scaling: str = "standard",
    window: int = 1,
    context: int = 0,
) -> Dataset:
    """Assemble train / val / test / trade `Samples` (see the module doc).

    bars, features, labels: per asset, on the same index. `window`: rows each target
    needs in X (the largest model window); `context`: rows kept before each split start
    (at least `window - 1`). Causality: row t's features use bars up to t; labels are
    used only as targets of rows whose outcome is known inside the row's own span.
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    first = labels[next(iter(labels))]
    if any(lab.label_map != first.label_map for lab in labels.values()):
        raise LabelError("all assets must share one label map")
    label_map, remap = code_map(first.label_map)
    st = stack_rows(bars, features, labels, remap)
    names = list(features[next(iter(features))].columns)
    train_rows = split.train.mask(st.index)
    if not train_rows.any():
        raise ConfigError(
            "'split.test': no bar with features falls in the train span "
            f"({split.train.start} .. {split.train.end}); the feature warm-up eats it, load more data"
        )
    scaler = Scaler(scaling).fit(st.X[train_rows], names)
    X = scaler.transform(st.X)
    ds = Dataset(
        samples={},
        scaler=scaler,
        split=split,
        feature_names=names,
        assets=list(bars),
        label_map=label_map,
        label_sign={remap[k]: v for k, v in first.label_sign.items() if k in remap},
        target="class" if label_map else "return",
        horizon=first.horizon,
    )
    context = max(context, window - 1)
    for name in SPLITS:
        ds.samples[name] = _samples(st, X, split, name, ds, context, window)
    return ds
