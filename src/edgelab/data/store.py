"""The Parquet bar store: a local cache of downloaded series, keyed by source, symbol, interval.

Layout: ``ROOT/<source>/<interval>/<SYMBOL>.parquet``, one file per series, where the symbol
is sanitized for the file name (``BTC/USDT`` -> ``BTC_USDT``, ``^GSPC`` -> ``_GSPC``) and the
real symbol is kept in the file's Parquet metadata. ROOT is, in order of precedence, the
``root`` argument (the CLI's ``--data-dir``), the environment variable ``EDGELAB_DATA_DIR``,
or ``platformdirs.user_cache_dir("edgelab")/bars``.

Besides the bars, each file records its *verified spans*: half-open time ranges
``[a, b)`` of bar open times that a source has been asked for completely, so every bar the
source has in them is stored. A gap inside a verified span is a gap at the source (for
example an exchange outage), not a hole in the cache, and is never fetched again; a gap
outside them is *missing* and `missing()` reports it for the downloaders to fetch.

Every write goes to a temporary file in the same folder, then `os.replace`, so a reader
(or a process killed mid-download) never sees a half-written file: the store always holds
the last complete write. Two processes writing the same series at once is not supported
(the last writer wins).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from edgelab.data.intervals import parse_interval
from edgelab.errors import DataError, did_you_mean

ENV_DATA_DIR = "EDGELAB_DATA_DIR"
FUNDING = "funding"  # the interval key under which funding-rate series are stored
_META_KEY = b"edgelab"
_FORMAT = 1
_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")

Span = tuple[int, int]  # half-open [a, b) in epoch milliseconds of bar open time


@dataclass(frozen=True)
class StoreEntry:
    """One cached series as `BarStore.list()` reports it (read from file metadata only)."""

    source: str
    symbol: str
    interval: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    path: Path


@dataclass(frozen=True)
class Coverage:
    """What the store holds of one series.

    `first`/`last` are the first and last stored bar open times (UTC); `missing` lists the
    holes between them that no verified span covers, each as (first missing bar open, last
    missing bar open), inclusive; `spans` are the verified ranges, half-open [start, end).
    """

    first: pd.Timestamp | None
    last: pd.Timestamp | None
    rows: int
    missing: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=list)


def default_root() -> Path:
    """The store root when none is given: `$EDGELAB_DATA_DIR`, else the user cache dir."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("edgelab")) / "bars"


def sanitize(name: str) -> str:
    """A file-name-safe form of a symbol or source: every character outside
    ``[A-Za-z0-9._-]`` becomes ``_`` (``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``)."""
    text = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
    if not text or text in {".", ".."}:
        raise DataError(f"cannot store a series named {name!r}", fix="use a non-empty symbol")
    return text


def to_ms(ts: pd.Timestamp | str | int) -> int:
    """A UTC timestamp (naive ones are taken as UTC) as epoch milliseconds."""
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)  # .value is nanoseconds at any resolution


def from_ms(ms: int) -> pd.Timestamp:
    """Epoch milliseconds -> UTC Timestamp."""
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def index_ms(index: pd.DatetimeIndex) -> np.ndarray:
    """A UTC DatetimeIndex as int64 epoch milliseconds, whatever its resolution."""
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)


def union_spans(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping or touching half-open spans into a sorted, disjoint list."""
    out: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in spans if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def subtract_spans(start: int, end: int, spans: Iterable[Span]) -> list[Span]:
    """The parts of [start, end) that no span covers, sorted."""
    holes: list[Span] = []
    cursor = start
    for a, b in union_spans(spans):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            holes.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        holes.append((cursor, end))
    return holes


def runs_as_spans(opens_ms: np.ndarray, step_ms: int) -> list[Span]:
    """Contiguous runs of bars as half-open spans (what a plain `write` can vouch for)."""
    if len(opens_ms) == 0:
        return []
    breaks = np.flatnonzero(np.diff(opens_ms) != step_ms)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(opens_ms) - 1]))
    return [
        (int(opens_ms[s]), int(opens_ms[e]) + step_ms) for s, e in zip(starts, ends, strict=True)
    ]


class BarStore:
    """A Parquet cache of bar series on local disk (see the module docstring for layout).

    `root=None` uses `default_root()`. All timestamps are UTC bar open times.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    # ----------------------------------------------------------------- paths and metadata
    def path(self, source: str, symbol: str, interval: str) -> Path:
        """Where the series lives (the file may not exist)."""
        return self.root / sanitize(source) / sanitize(interval) / f"{sanitize(symbol)}.parquet"

    def exists(self, source: str, symbol: str, interval: str) -> bool:
        """Whether the series is cached."""
        return self.path(source, symbol, interval).is_file()

    def _meta(self, path: Path) -> dict:
        try:
            raw = pq.read_schema(path).metadata or {}
        except (OSError, pa.ArrowException) as exc:
            raise DataError(
                f"cannot read cached series: {exc}",
                where=str(path),
                fix="delete the file and download it again",
            ) from exc
        if _META_KEY not in raw:
            raise DataError(
                "not an edgelab store file (no 'edgelab' metadata)",
                where=str(path),
                fix="remove it from the store folder",
            )
        return json.loads(raw[_META_KEY])

    def _checked_meta(self, path: Path, source: str, symbol: str, interval: str) -> dict:
        meta = self._meta(path)
        if (meta.get("source"), meta.get("symbol"), meta.get("interval")) != (
            source,
            symbol,
            interval,
        ):
            raise DataError(
                f"file holds {meta.get('source')}/{meta.get('symbol')}/{meta.get('interval')}, "
                f"not {source}/{symbol}/{interval} (two symbols share one sanitized file name)",
                where=str(path),
                fix="store one of them under another data dir (--data-dir)",
            )
        return meta

    # ----------------------------------------------------------------------------- reads
    def read(self, source: str, symbol: str, interval: str) -> pd.DataFrame:
        """The cached Bars of one series (attrs symbol, interval, source set).

        Raises DataError naming the `edgelab data download` command when it is absent.
        """
        if interval == FUNDING:
            return self.read_funding(source, symbol)
        frame, _ = self._read(source, symbol, interval)
        return frame

    def read_funding(self, source: str, symbol: str) -> pd.DataFrame:
        """Cached funding rates: index `timestamp` (UTC), float64 column `funding_rate`."""
        frame, _ = self._read(source, symbol, FUNDING)
        return frame

    def _read(self, source: str, symbol: str, interval: str) -> tuple[pd.DataFrame, dict]:
        path = self.path(source, symbol, interval)
        if not path.is_file():
            flag = " --futures --funding" if interval == FUNDING else ""
            shown = "INTERVAL" if interval == FUNDING else interval
            near = [e.symbol for e in self.list() if (e.source, e.interval) == (source, interval)]
            raise DataError(
                f"no cached series {source}/{symbol}/{interval} under {self.root}"
                + did_you_mean(symbol, near),
                fix=f"run `edgelab data download {source} {symbol} {shown}{flag} --months 3` "
                "or pass the --data-dir that holds it",
            )
        meta = self._checked_meta(path, source, symbol, interval)
        try:
            frame = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise DataError(
                f"cannot read cached series: {exc}",
                where=str(path),
                fix="delete the file and download it again",
            ) from exc
        frame.index.name = "timestamp"
        frame.attrs = {"symbol": symbol, "interval": interval, "source": source}
        return frame, meta

    def spans(self, source: str, symbol: str, interval: str) -> list[Span]:
        """Verified spans of a cached series (epoch ms, half-open); [] when absent."""
        path = self.path(source, symbol, interval)
        if not path.is_file():
            return []
        meta = self._checked_meta(path, source, symbol, interval)
        return [(int(a), int(b)) for a, b in meta.get("spans", [])]

    def coverage(self, source: str, symbol: str, interval: str) -> Coverage:
        """First and last stored bar, row count, the holes no verified span covers, the spans."""
        path = self.path(source, symbol, interval)
        if not path.is_file():
            return Coverage(None, None, 0)
        meta = self._checked_meta(path, source, symbol, interval)
        spans = [(int(a), int(b)) for a, b in meta.get("spans", [])]
        if not meta.get("rows"):
            return Coverage(None, None, 0, [], [(from_ms(a), from_ms(b)) for a, b in spans])
        first, last = int(meta["first"]), int(meta["last"])
        missing = []
        if interval != FUNDING:
            step = to_step_ms(interval)
            for a, b in self._holes(first, last + step, spans, first, step):
                missing.append((from_ms(a), from_ms(b - step)))
        return Coverage(
            from_ms(first),
            from_ms(last),
            int(meta["rows"]),
            missing,
            [(from_ms(a), from_ms(b)) for a, b in spans],
        )

    def missing(self, source: str, symbol: str, interval: str, start: int, end: int) -> list[Span]:
        """The parts of [start, end) (epoch ms of bar open) that no verified span covers and
        that can hold at least one bar, snapped to the bar grid of the stored series."""
        path = self.path(source, symbol, interval)
        if not path.is_file():
            return [(start, end)] if end > start else []
        meta = self._checked_meta(path, source, symbol, interval)
        spans = [(int(a), int(b)) for a, b in meta.get("spans", [])]
        anchor = int(meta["first"]) if meta.get("rows") else None
        return self._holes(start, end, spans, anchor, to_step_ms(interval))

    @staticmethod
    def _holes(start: int, end: int, spans: list[Span], anchor: int | None, step: int):
        holes = []
        for a, b in subtract_spans(start, end, spans):
            if anchor is not None:  # snap up to the next bar open of the stored grid
                a = anchor + -((anchor - a) // step) * step
            if a < b:
                holes.append((a, b))
        return holes

    def list(self) -> list[StoreEntry]:
        """Every cached series under the root, sorted by source, interval, symbol."""
        entries = []
        if not self.root.is_dir():
            return entries
        for path in sorted(self.root.glob("*/*/*.parquet")):
            meta = self._meta(path)
            rows = int(meta.get("rows", 0))
            entries.append(
                StoreEntry(
                    source=meta["source"],
                    symbol=meta["symbol"],
                    interval=meta["interval"],
                    rows=rows,
                    first=from_ms(meta["first"]) if rows else None,
                    last=from_ms(meta["last"]) if rows else None,
                    path=path,
                )
            )
        return entries

    # ---------------------------------------------------------------------------- writes
    def write(
        self,
        bars: pd.DataFrame,
        source: str,
        symbol: str,
        interval: str,
        *,
        spans: Iterable[Span] | None = None,
    ) -> Path:
        """Replace the cached series with `bars` (Bars contract; funding frames when
        `interval == "funding"`). `spans` are the verified ranges; by default the contiguous
        runs of the bars themselves. Atomic: temp file, then os.replace."""
        frame = self._conform(bars, interval, where=f"{source}/{symbol}/{interval}")
        if spans is None:
            spans = (
                []
                if interval == FUNDING
                else runs_as_spans(index_ms(frame.index), to_step_ms(interval))
            )
        return self._write(frame, source, symbol, interval, union_spans(spans))

    def merge(
        self,
        bars: pd.DataFrame,
        source: str,
        symbol: str,
        interval: str,
        *,
        verified: Iterable[Span] = (),
    ) -> pd.DataFrame:
        """Union `bars` with the cached series (new rows win where timestamps overlap),
        sorted and unique, and add `verified` spans; returns the merged frame.

        Without `verified`, the contiguous runs of `bars` count as verified."""
        where = f"{source}/{symbol}/{interval}"
        new = self._conform(bars, interval, where=where)
        verified = list(verified)
        if not verified and interval != FUNDING:
            verified = runs_as_spans(index_ms(new.index), to_step_ms(interval))
        path = self.path(source, symbol, interval)
        if path.is_file():
            old, meta = self._read(source, symbol, interval)
            old_spans = [(int(a), int(b)) for a, b in meta.get("spans", [])]
            merged = pd.concat([old[~old.index.isin(new.index)], new]).sort_index()
            merged = merged[~merged.index.duplicated(keep="last")]
        else:
            merged, old_spans = new, []
        self._write(merged, source, symbol, interval, union_spans(old_spans + verified))
        merged.attrs = {"symbol": symbol, "interval": interval, "source": source}
        return merged

    def delete(self, source: str, symbol: str, interval: str) -> None:
        """Remove a cached series (no error when absent)."""
        self.path(source, symbol, interval).unlink(missing_ok=True)

    def _conform(self, bars: pd.DataFrame, interval: str, *, where: str) -> pd.DataFrame:
        """Check the parts of the contract the store relies on; never repairs silently."""
        if not isinstance(bars.index, pd.DatetimeIndex) or bars.index.tz is None:
            raise DataError("index must be a tz-aware DatetimeIndex", where=where)
        needed = ("funding_rate",) if interval == FUNDING else _PRICE_COLUMNS
        absent = [c for c in needed if c not in bars.columns]
        if absent:
            raise DataError(f"missing columns {absent}", where=where)
        if interval != FUNDING:
            to_step_ms(interval)
        frame = bars.copy()
        frame.index = frame.index.tz_convert("UTC")
        frame.index.name = "timestamp"
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise DataError(
                "timestamps are not strictly increasing",
                where=where,
                fix="validate the bars (policy repair) before storing them",
            )
        for col in frame.columns:
            if frame[col].dtype != np.float64 and pd.api.types.is_numeric_dtype(frame[col]):
                frame[col] = frame[col].astype(np.float64)
        frame.attrs = {}
        return frame

    def _write(
        self, frame: pd.DataFrame, source: str, symbol: str, interval: str, spans: list[Span]
    ) -> Path:
        path = self.path(source, symbol, interval)
        if path.is_file():
            self._checked_meta(path, source, symbol, interval)
        path.parent.mkdir(parents=True, exist_ok=True)
        opens = index_ms(frame.index)
        meta = {
            "format": _FORMAT,
            "source": source,
            "symbol": symbol,
            "interval": interval,
            "rows": len(frame),
            "first": int(opens[0]) if len(opens) else None,
            "last": int(opens[-1]) if len(opens) else None,
            "spans": [[a, b] for a, b in spans],
        }
        table = pa.Table.from_pandas(frame, preserve_index=True)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
        )
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


def to_step_ms(interval: str) -> int:
    """Bar length of an interval string in milliseconds (`'1h'` -> 3_600_000)."""
    return int(parse_interval(interval) / pd.Timedelta(milliseconds=1))
