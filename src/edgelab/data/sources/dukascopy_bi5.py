"""Dukascopy file formats and tick bars: pure functions, no I/O beyond reading a file.

Owns the `.bi5` tick and candle record layouts, the point factors that turn integer
points into prices, the hourly URL/path layout, and the conversion of bid/ask ticks into
bid, ask and mid OHLC bars at any interval. The downloader is `dukascopy.py`.

Formats (all big-endian, LZMA-compressed in the legacy "alone" `.lzma` container):
- tick file ``{base}/{INSTRUMENT}/{YYYY}/{MM0}/{DD}/{HH}h_ticks.bi5`` (MM0 = month - 1,
  zero-padded: ``EURUSD/2019/01/04/00h_ticks.bi5`` is 2019-02-04 00:00 UTC), 20-byte
  records: uint32 milliseconds into the hour, uint32 ask, uint32 bid (in points), float32
  ask volume, float32 bid volume (millions of base units for FX);
- candle file (``BID_candles_min_1.bi5`` ...), 24-byte records: uint32 seconds from the
  file's start, uint32 open, close, low, high (in points), float32 volume.
A price in points divided by the instrument's point factor (`POINT_FACTORS`) is the price.
An empty (0-byte) file holds no records: no ticks in that hour.
"""

from __future__ import annotations

import lzma
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from edgelab.data.intervals import format_interval, parse_interval
from edgelab.errors import DataError, SourceError, unknown_name

SOURCE = "dukascopy"
DEFAULT_BASE_URL = "https://datafeed.dukascopy.com/datafeed"
HOUR = pd.Timedelta(hours=1)
TICK_DTYPE = np.dtype(
    [("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"), ("ask_volume", ">f4"), ("bid_volume", ">f4")]
)
CANDLE_DTYPE = np.dtype(
    [("sec", ">u4"), ("open", ">u4"), ("close", ">u4"), ("low", ">u4"), ("high", ">u4"),
     ("volume", ">f4")]
)  # fmt: skip

# Price = points / factor. Each entry was read from the `decimalFactor` in dukascopy-node's
# instrument metadata (src/utils/instrument-meta-data/generated/instrument-meta-data.json),
# except NZDUSD (from another reader's table). No rule of thumb: HKDJPY is 1e5, not 1e3.
POINT_FACTORS: dict[str, float] = {
    **dict.fromkeys(
        ("EURUSD", "GBPUSD", "AUDUSD", "NZDUSD", "USDCAD", "USDCHF", "EURGBP", "EURCHF",
         "EURAUD", "EURCAD", "EURNZD", "GBPAUD", "GBPCAD", "GBPCHF", "GBPNZD", "CADCHF",
         "USDSGD", "USDNOK", "USDSEK", "USDDKK", "USDHKD", "USDMXN", "USDZAR", "USDTRY",
         "USDPLN", "USDCNH", "EURNOK", "EURSEK", "EURPLN", "EURTRY", "AUDCAD", "AUDCHF",
         "AUDNZD"),
        1e5,
    ),
    **dict.fromkeys(
        ("USDJPY", "EURJPY", "GBPJPY", "AUDJPY", "CADJPY", "XAUUSD",
         "XAGUSD", "USA500IDXUSD", "USATECHIDXUSD", "USA30IDXUSD", "DEUIDXEUR", "GBRIDXGBP",
         "JPNIDXJPY", "FRAIDXEUR", "LIGHTCMDUSD", "BRENTCMDUSD"),
        1e3,
    ),
    **dict.fromkeys(("BTCUSD", "ETHUSD", "BCHUSD"), 10.0),
}  # fmt: skip
CRYPTO = frozenset({"BTCUSD", "ETHUSD", "BCHUSD"})  # trade 24/7 at Dukascopy

TICK_COLUMNS = ("bid", "ask", "bid_volume", "ask_volume")
_PATH = re.compile(r"([A-Za-z0-9]+)/(\d{4})/(\d{2})/(\d{2})/(\d{2})h_ticks\.bi5$")


# ----------------------------------------------------------------------- names and paths
def normalize_instrument(instrument: str) -> str:
    """`'eur/usd'`, `'EUR-USD'`, `'EURUSD'` -> `'EURUSD'` (the name in Dukascopy's URLs)."""
    name = re.sub(r"[^A-Za-z0-9]", "", str(instrument)).upper()
    if not name:
        raise SourceError(f"'{instrument}' is not a Dukascopy instrument name (e.g. EURUSD)")
    return name


def instrument_point_factor(instrument: str, override: float | None = None) -> float:
    """Points per price unit of `instrument` (EURUSD 1e5, USDJPY 1e3, BTCUSD 10).

    `override` wins (for instruments missing from `POINT_FACTORS`); an unknown instrument
    without one raises SourceError with a did-you-mean."""
    if override is not None:
        if not override > 0:
            raise SourceError(f"point factor must be > 0, got {override}")
        return float(override)
    name = normalize_instrument(instrument)
    if name not in POINT_FACTORS:
        raise SourceError(
            unknown_name("Dukascopy instrument", name, POINT_FACTORS)
            + " (pass point_factor=..., CLI --point-factor, for another instrument: "
            "10**digits of its quotes)"
        )
    return POINT_FACTORS[name]


def _hour(moment) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp != stamp.floor("h"):
        raise DataError(f"{stamp} is not the start of an hour")
    return stamp


def hour_key(instrument: str, hour) -> str:
    """`'EURUSD/2019/01/04/00h_ticks.bi5'` for 2019-02-04 00:00 UTC (0-based month)."""
    h = _hour(hour)
    name = normalize_instrument(instrument)
    return f"{name}/{h.year:04d}/{h.month - 1:02d}/{h.day:02d}/{h.hour:02d}h_ticks.bi5"


def hour_url(instrument: str, hour, base_url: str | None = None) -> str:
    """The tick file URL of one hour; `base_url` defaults to Dukascopy's datafeed."""
    return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{hour_key(instrument, hour)}"


def hour_of_path(path: str | os.PathLike[str]) -> tuple[str, pd.Timestamp]:
    """(instrument, hour) from a path ending in the URL layout, e.g. `.../EURUSD/2019/01/04/00h_ticks.bi5`."""
    match = _PATH.search(Path(path).as_posix())
    if not match:
        raise DataError(
            "cannot tell instrument and hour from the path",
            where=str(path),
            fix="keep the INSTRUMENT/YYYY/MM0/DD/HHh_ticks.bi5 layout or pass instrument= and hour=",
        )
    name, y, m0, d, h = match.groups()
    return name.upper(), pd.Timestamp(int(y), int(m0) + 1, int(d), int(h), tz="UTC")


# --------------------------------------------------------------------------- decoding
def decompress_bi5(raw: bytes, *, record_size: int, where: str) -> bytes:
    """The records of a `.bi5` file; b"" for an empty file.

    Raises DataError (naming `where`) for data that is not LZMA, a stream cut short before
    its end, trailing bytes that are not another LZMA stream, or a length that is not a
    whole number of `record_size`-byte records: never partial or zero-filled records."""
    if not raw:
        return b""
    chunks, rest = [], bytes(raw)
    while rest:
        decoder = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
        try:
            chunks.append(decoder.decompress(rest))
        except lzma.LZMAError as exc:
            what = "trailing bytes after the LZMA stream" if chunks else "not valid LZMA data"
            raise DataError(f"corrupt .bi5 file: {what} ({exc})", where=where) from exc
        if not decoder.eof:
            raise DataError(
                f"truncated .bi5 file: the LZMA stream ends before its end marker "
                f"({len(raw)} bytes)",
                where=where,
            )
        rest = decoder.unused_data
    data = b"".join(chunks)
    if len(data) % record_size:
        raise DataError(
            f"corrupt .bi5 file: {len(data)} decompressed bytes is not a whole number of "
            f"{record_size}-byte records",
            where=where,
        )
    return data


def parse_ticks(raw: bytes, hour, *, point: float, where: str) -> pd.DataFrame:
    """Ticks of one hourly `.bi5` file.

    Returns a frame indexed by tick time (`timestamp`, UTC, millisecond precision) with
    float64 columns `bid`, `ask` (prices) and `bid_volume`, `ask_volume` (Dukascopy units,
    millions for FX); empty for an empty file. Raises DataError for a corrupt file, an
    offset outside the hour, ticks out of time order or a non-positive price."""
    records = np.frombuffer(decompress_bi5(raw, record_size=20, where=where), TICK_DTYPE)
    ms = records["ms"].astype(np.int64)
    bad = (ms >= 3_600_000) | (records["ask"] == 0) | (records["bid"] == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"corrupt tick record {i}: offset {ms[i]} ms, ask {records['ask'][i]}, "
            f"bid {records['bid'][i]} points ({int(bad.sum())} such records)",
            where=where,
        )
    if (np.diff(ms) < 0).any():
        i = int(np.flatnonzero(np.diff(ms) < 0)[0]) + 1
        raise DataError(f"tick record {i} is earlier than the one before it", where=where)
    index = pd.DatetimeIndex(_hour(hour).as_unit("ms") + pd.to_timedelta(ms, unit="ms"))
    return pd.DataFrame(
        {
            "bid": records["bid"] / point,
            "ask": records["ask"] / point,
            "bid_volume": records["bid_volume"].astype(np.float64),
            "ask_volume": records["ask_volume"].astype(np.float64),
        },
        index=index.rename("timestamp"),
    )


def parse_candles(raw: bytes, start, *, point: float, where: str) -> pd.DataFrame:
    """Candles of a `.bi5` candle file whose first period starts at `start` (UTC).

    Returns float64 `open high low close volume` indexed by bar open time (`timestamp`,
    UTC). Dukascopy candle files hold ONE side (the file name says BID or ASK) and include
    zero-volume filler candles for periods without ticks."""
    records = np.frombuffer(decompress_bi5(raw, record_size=24, where=where), CANDLE_DTYPE)
    sec = records["sec"].astype(np.int64)
    if (np.diff(sec) <= 0).any():
        raise DataError("candle times are not strictly increasing", where=where)
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    index = pd.DatetimeIndex(stamp.as_unit("s") + pd.to_timedelta(sec, unit="s"))
    columns = {k: records[k] / point for k in ("open", "high", "low", "close")}
    columns["volume"] = records["volume"].astype(np.float64)
    return pd.DataFrame(columns, index=index.rename("timestamp"))


def read_tick_file(path, *, instrument=None, hour=None, point_factor=None) -> pd.DataFrame:
    """`parse_ticks` on a local file; instrument and hour default to those of its path."""
    if instrument is None or hour is None:
        name, when = hour_of_path(path)
        instrument, hour = instrument or name, hour if hour is not None else when
    point = instrument_point_factor(instrument, point_factor)
    return parse_ticks(Path(path).read_bytes(), hour, point=point, where=str(path))


# ------------------------------------------------------------------------ ticks -> bars
_EPOCH_NS = 0
_MONDAY_NS = pd.Timestamp("1970-01-05", tz="UTC").value  # weekly bins start on Monday
_PRICES = {"open": "first", "high": "max", "low": "min", "close": "last"}
_HOW = {f"{p}{k}": how for p in ("", "bid_", "ask_") for k, how in _PRICES.items()}
_HOW.update(volume="sum", spread_sum="sum", ticks="sum")
BAR_COLUMNS = ("open", "high", "low", "close", "volume",
               *(f"{s}_{k}" for s in ("bid", "ask") for k in _PRICES), "spread")  # fmt: skip


def _reduce(labels: np.ndarray, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """Aggregate runs of equal, sorted `labels` by each column's rule in `_HOW`.

    Hand-written with ufunc.reduceat instead of a pandas groupby: ticks arrive sorted, so
    each bin is one contiguous run, and this is ~20x faster per hour of ticks."""
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)] - 1
    rule = {"first": lambda v: v[starts], "last": lambda v: v[ends],
            "max": lambda v: np.maximum.reduceat(v, starts),
            "min": lambda v: np.minimum.reduceat(v, starts),
            "sum": lambda v: np.add.reduceat(v, starts)}  # fmt: skip
    return labels[starts], {k: rule[_HOW[k]](v) for k, v in columns.items()}


def _tick_parts(ticks: pd.DataFrame, step_ns: int, origin_ns: int) -> tuple[np.ndarray, dict]:
    """Partial bars of sorted ticks: OHLC of bid, ask and mid, volume, spread sum, count."""
    times = ticks.index.as_unit("ns").asi8
    labels = times - (times - origin_ns) % step_ns
    bid, ask = ticks["bid"].to_numpy(np.float64), ticks["ask"].to_numpy(np.float64)
    columns = {}
    for prefix, price in (("", (bid + ask) / 2.0), ("bid_", bid), ("ask_", ask)):
        columns.update({f"{prefix}{k}": price for k in _PRICES})
    volume = ticks["bid_volume"].to_numpy(np.float64) + ticks["ask_volume"].to_numpy(np.float64)
    columns.update(volume=volume / 2.0, spread_sum=ask - bid, ticks=np.ones(len(bid)))
    return _reduce(labels, columns)


def _finish(labels: np.ndarray, columns: dict, interval: str, symbol: str | None) -> pd.DataFrame:
    columns = dict(columns)
    spread = columns.pop("spread_sum") / columns.pop("ticks")
    index = pd.DatetimeIndex(labels.astype("datetime64[ns]"), name="timestamp")
    bars = pd.DataFrame(columns, index=index.tz_localize("UTC").as_unit("us"))
    bars["spread"] = spread
    bars = bars[list(BAR_COLUMNS)].astype(np.float64)
    bars.attrs = {"symbol": symbol, "interval": interval, "source": SOURCE}
    return bars


def _empty_parts() -> dict[str, np.ndarray]:
    return {k: np.array([], np.float64) for k in _HOW}


def _grid(interval: str) -> tuple[int, int]:
    step = parse_interval(interval)
    origin = _MONDAY_NS if step % pd.Timedelta(days=7) == pd.Timedelta(0) else _EPOCH_NS
    return int(step.value), origin


def ticks_to_bars(ticks: pd.DataFrame, interval: str, *, symbol: str | None = None) -> pd.DataFrame:
    """Bid/ask ticks -> Bars at `interval` (a bar at t covers ticks in [t, t + interval)).

    `ticks`: `parse_ticks`-shaped frame (UTC index in time order; bid, ask, bid_volume,
    ask_volume). Bins are anchored at the Unix epoch (weeks on Monday), like
    `resample_bars`. Columns: `bid_*`/`ask_*` OHLC of each side's quotes; `open high low
    close` are the OHLC of the tick MID price (bid + ask) / 2 (so `high` can be below the
    mean of bid_high and ask_high); `volume` the sum over ticks of the mean of bid and ask
    volume (Dukascopy units); `spread` the mean tick spread ask - bid over the bar (price
    units). Bars without ticks are omitted, never filled. A bar is known at its close."""
    if not ticks.index.is_monotonic_increasing:
        raise DataError("ticks are not in time order", fix="sort them by time first")
    if ticks.empty:
        raise DataError("no ticks to make bars from")
    step, origin = _grid(interval)
    labels, columns = _tick_parts(ticks, step, origin)
    return _finish(labels, columns, format_interval(pd.Timedelta(step)), symbol)


def no_ticks() -> pd.DataFrame:
    """An empty tick frame with the `parse_ticks` columns and index."""
    index = pd.DatetimeIndex([], dtype="datetime64[ms, UTC]", name="timestamp")
    return pd.DataFrame({c: np.array([], np.float64) for c in TICK_COLUMNS}, index=index)


def _utc(moment) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(moment)
    except ValueError as exc:
        raise SourceError(f"'{moment}' is not a date or time") from exc
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
