"""The source registry: one spec string -> validated Bars, whatever the data comes from.

This module owns the spec grammar and the routing; every frame it returns has passed
`edgelab.data.schema.validate_bars` once, here, at the border.

    sample:NAME                      a real sample bundled in an installed package (samples.py)
    synthetic:[KEY=VALUE,...]        the synthetic market (synthetic.py), e.g.
                                     synthetic:assets=3,n=5000,interval=1h,signal=ar,strength=0.3,seed=7
    cache:EXCHANGE/SYMBOL/INTERVAL   bars downloaded earlier into the Parquet store (store.py)
    file:PATH  or  PATH              a CSV / Parquet / Feather / JSON file (readers.py)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.quality import QualityReport
from edgelab.data.schema import validate_bars
from edgelab.data.sources.samples import available_samples, load_sample
from edgelab.errors import SourceError, did_you_mean, unknown_name

__all__ = ["describe_sources", "load_bars", "parse_synthetic_params"]

PREFIXES = ("sample", "synthetic", "cache", "file")
_CACHE_CALENDARS = {"dukascopy": "fx", "yahoo": "equity"}

_BOOLS = {
    **dict.fromkeys(("true", "yes", "on", "1"), True),
    **dict.fromkeys(("false", "no", "off", "0"), False),
}


def _parse_bool(text: str) -> bool:
    if text.lower() not in _BOOLS:
        raise ValueError("expected true or false")
    return _BOOLS[text.lower()]


def _parse_garch(text: str) -> tuple[float, float, float] | None:
    if text.lower() in ("off", "none", "false"):
        return None
    parts = text.split("/")
    if len(parts) != 3:
        raise ValueError("expected omega/alpha/beta such as 0.05/0.05/0.9, or off")
    omega, alpha, beta = (float(p) for p in parts)
    return omega, alpha, beta


# Spec key -> (synthetic_market argument, parser). `n` is the short spelling of n_bars.
_SYNTHETIC_PARAMS = {
    "n": ("n_bars", int),
    "n_bars": ("n_bars", int),
    "assets": ("assets", int),
    "interval": ("interval", str),
    "start": ("start", str),
    "seed": ("seed", int),
    "signal": ("signal", str),
    "strength": ("strength", float),
    "lag": ("lag", int),
    "correlation": ("correlation", float),
    "garch": ("garch", _parse_garch),
    "regimes": ("regimes", _parse_bool),
    "spread_bps": ("spread_bps", float),
    "calendar": ("calendar", str),
    "annual_vol": ("annual_vol", float),
    "start_price": ("start_price", float),
}


def describe_sources() -> list[dict[str, str]]:
    """The spec forms this registry accepts, as rows `{"spec", "example", "description"}`."""
    samples = sorted(available_samples())
    return [
        {
            "spec": "sample:NAME",
            "example": f"sample:{samples[0] if samples else 'eurusd_1h'}",
            "description": f"bundled real bars; names: {', '.join(samples) or 'none installed'}",
        },
        {
            "spec": "synthetic:KEY=VALUE,...",
            "example": "synthetic:assets=3,n=5000,interval=1h,signal=ar,strength=0.3,seed=7",
            "description": "seeded synthetic market; keys: " + ", ".join(_SYNTHETIC_PARAMS),
        },
        {
            "spec": "cache:EXCHANGE/SYMBOL/INTERVAL",
            "example": "cache:binance/BTC/USDT/1h",
            "description": "bars downloaded earlier with `edgelab data download`",
        },
        {
            "spec": "file:PATH or PATH",
            "example": "prices.csv",
            "description": "a CSV, Parquet, Feather or JSON file of bars",
        },
    ]


def load_bars(
    spec: str,
    *,
    data_dir: str | Path | None = None,
    policy: str = "repair",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> dict[str, pd.DataFrame]:
    """Load the bars named by `spec` as `{symbol: Bars}` (one entry for a single asset).

    Every frame is validated once with `validate_bars(policy=policy)` and carries its quality
    report as `bars.attrs["quality"]` (`QualityReport.to_dict()`, JSON-friendly); `attrs`
    also hold `symbol`, `interval`, `source` (the spec) and, where known, `calendar`.
    `start` (inclusive) and `end` (exclusive) keep bar open times in [start, end), UTC when
    naive; the window is cut from the validated frame and its report recomputed on the
    window (gaps, span, rows), keeping the repairs made to the whole source.
    `data_dir` is the Parquet store for `cache:` specs (default: the user cache dir).
    Raises SourceError for an unknown prefix, sample or parameter or a missing file, and
    DataError when `policy="strict"` and the data breaks the Bars contract.
    """
    spec = str(spec).strip()
    out = {}
    for symbol, (bars, report) in _route(spec, data_dir=data_dir, policy=policy).items():
        if start is not None or end is not None:
            repairs = report.repairs
            bars, report = _validated(_window(bars, start, end, spec), spec, policy)
            report.repairs[:0] = repairs
        bars.attrs["quality"] = report.to_dict()
        out[symbol] = bars
    return out


def _route(spec: str, *, data_dir, policy: str) -> dict[str, tuple[pd.DataFrame, QualityReport]]:
    """Dispatch a spec on its prefix to the loader that owns it; validated (bars, report)."""
    prefix, sep, rest = spec.partition(":")
    prefix = prefix.strip().lower()
    if sep and prefix == "file":
        return _load_file(Path(rest), spec, policy)
    if sep and prefix == "sample":
        frames = [load_sample(rest)]
    elif prefix == "synthetic":
        from edgelab.data.sources.synthetic import synthetic_market  # lazy: numba start-up

        frames = list(synthetic_market(**parse_synthetic_params(rest)).values())
    elif sep and prefix == "cache":
        frames = [_load_cache(rest, spec, data_dir)]
    elif Path(spec).exists():
        return _load_file(Path(spec), spec, policy)
    else:
        _unknown_source(spec, prefix, sep)
    out = {}
    for frame in frames:
        frame.attrs["source"] = spec
        out[frame.attrs["symbol"]] = _validated(frame, spec, policy)
    return out


def _unknown_source(spec: str, prefix: str, sep: str):
    choices = [f"sample:{name}" for name in available_samples()] + ["synthetic:", "cache:", "file:"]
    if sep and len(prefix) > 1 and "/" not in prefix and "\\" not in prefix:
        hint = did_you_mean(prefix, PREFIXES)
        raise SourceError(
            f"unknown source prefix '{prefix}:'{hint} in '{spec}'; known: "
            + ", ".join(f"{p}:" for p in PREFIXES)
        )
    raise SourceError(
        f"no such file '{spec}' and not a source spec{did_you_mean(spec, choices)}; "
        "use sample:NAME, synthetic:KEY=VALUE,..., cache:EXCHANGE/SYMBOL/INTERVAL or a file path"
    )


def parse_synthetic_params(text: str) -> dict:
    """`'assets=3,n=5000,signal=ar'` -> keyword arguments for `synthetic_market`.

    Empty text means all defaults. Unknown keys get a did-you-mean; bad values name the key.
    """
    kwargs: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            raise SourceError(f"synthetic: '{item}' is not KEY=VALUE (e.g. seed=7)")
        if key not in _SYNTHETIC_PARAMS:
            raise SourceError(unknown_name("synthetic parameter", key, _SYNTHETIC_PARAMS))
        name, parse = _SYNTHETIC_PARAMS[key]
        try:
            kwargs[name] = parse(value)
        except ValueError as exc:
            kind = getattr(parse, "__name__", "value").removeprefix("_parse_")
            raise SourceError(f"synthetic: {key}='{value}' is not a valid {kind} ({exc})") from exc
    return kwargs


def _load_cache(rest: str, spec: str, data_dir) -> pd.DataFrame:
    """`EXCHANGE/SYMBOL/INTERVAL` from the Parquet store; a symbol may itself hold a slash."""
    parts = [p for p in rest.strip().split("/") if p]
    if len(parts) < 3:
        raise SourceError(
            f"'{spec}' is not cache:EXCHANGE/SYMBOL/INTERVAL (e.g. cache:binance/BTC/USDT/1h)"
        )
    from edgelab.data.store import BarStore  # lazy: only cache specs need the store

    source, symbol, interval = parts[0], "/".join(parts[1:-1]), parts[-1]
    frame = BarStore(data_dir).read(source, symbol, interval)
    frame.attrs.setdefault("symbol", symbol)
    frame.attrs.setdefault("interval", interval)
    # The store holds ccxt exchanges (24/7) plus Dukascopy (FX) and Yahoo (equities).
    calendar = _CACHE_CALENDARS.get(source.lower(), "crypto")
    if source.lower() == "dukascopy":
        from edgelab.data.sources.dukascopy_bi5 import CRYPTO  # BTCUSD, ETHUSD trade 24/7

        calendar = "crypto" if symbol.upper() in CRYPTO else "fx"
    frame.attrs.setdefault("calendar", calendar)
    return frame


def _load_file(path: Path, spec: str, policy: str) -> dict[str, tuple[pd.DataFrame, QualityReport]]:
    """A file of bars, read and validated by the readers (which know the file's line
    numbers for messages); one or many symbols (candle-export JSON)."""
    if not path.is_file():
        raise SourceError(f"no such file '{path}' (from source '{spec}')")
    from edgelab.data.readers import read_bars_reports

    loaded = read_bars_reports(path, policy=policy)
    for bars, _ in loaded.values():
        bars.attrs["source"] = spec
    return loaded


def _window(frame: pd.DataFrame, start, end, spec: str) -> pd.DataFrame:
    """Rows of a validated frame with open time in [start, end)."""
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= frame.index >= _utc(start)
    if end is not None:
        keep &= frame.index < _utc(end)
    if not keep.any():
        raise SourceError(
            f"{spec}: no bars in [{start}, {end}); its bars span {frame.index[0]} to "
            f"{frame.index[-1]}"
        )
    window = frame[keep]
    window.attrs = dict(frame.attrs)
    return window


def _utc(moment) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(moment)
    except ValueError as exc:
        raise SourceError(f"'{moment}' is not a date or time ({exc})") from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _validated(frame: pd.DataFrame, spec: str, policy: str) -> tuple[pd.DataFrame, QualityReport]:
    """The one Bars contract check at the border; attrs (symbol, calendar, ...) are kept."""
    attrs = dict(frame.attrs)
    attrs.pop("quality", None)
    bars, report = validate_bars(
        frame,
        policy=policy,
        interval=attrs.get("interval"),
        calendar=attrs.get("calendar"),
        where=spec,
    )
    bars.attrs = {**attrs, **bars.attrs}
    return bars, report
