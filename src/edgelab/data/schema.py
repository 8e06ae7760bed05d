"""The Bars contract and its checking: `validate_bars` and the `QualityReport`.

Bars: a DataFrame with a `DatetimeIndex` named `timestamp` (UTC, microsecond unit, bar
OPEN time, strictly increasing, unique), float64 columns `open high low close volume`,
optionally `bid_*`/`ask_*` OHLC and `spread`; `attrs` carry `symbol`, `interval`, `source`.

`validate_bars` is the one border check: every loaded frame goes through it once. Under
policy `strict` any contract violation raises `DataError` naming the rule, the first
offending row and the fix; under `repair` the frame is sorted, duplicate timestamps keep
their last row and impossible rows are dropped; every repair is listed in the report and
nothing is ever filled in. Gaps and stale quotes are reported (warnings), never repaired;
`detect_calendar` and `gap_summary` (in `gaps`) tell market closures (weekends, nights)
from faults; the report types live in `quality` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from edgelab.data.gaps import detect_calendar, gap_summary
from edgelab.data.intervals import format_interval, infer_interval, parse_interval
from edgelab.data.quality import (
    FIRST_SHOWN,
    Finding,
    GapSummary,
    QualityReport,
    Severity,
    render_report,
)
from edgelab.errors import DataError, unknown_name

OHLC = ("open", "high", "low", "close")
OHLCV = (*OHLC, "volume")
BID_ASK = tuple(f"{side}_{part}" for side in ("bid", "ask") for part in OHLC)
SPREAD = "spread"
COLUMNS = (*OHLCV, *BID_ASK, SPREAD)
ATTRS = ("symbol", "interval", "source")
INDEX_NAME = "timestamp"
TIME_UNIT = "us"  # pandas 3 default resolution; every Bars index is normalised to it
POLICIES = ("strict", "repair")
CALENDARS = ("crypto", "equity", "fx")
STALE_BARS_INTRADAY = 20  # default run of unchanged closes that counts as stale
STALE_BARS_DAILY = 5

Bars = pd.DataFrame  # a frame that meets the contract above (a name for signatures)
_ROW = "__row__"  # temporary column: original position of each row, for messages

_FIXES = {
    "naive_timestamps": "pass tz='UTC' (CLI: --tz UTC) when the times are UTC, "
    "or use policy 'repair', which assumes UTC",
    "missing_volume": "add a volume column, or use policy 'repair', which adds volume 0",
    "missing_timestamps": "fix the time values or use policy 'repair' to drop those rows",
    "unsorted": "sort the rows by time or use policy 'repair'",
    "duplicate_timestamps": "remove the duplicates or use policy 'repair', which keeps the last",
}
_ROW_FIX = "correct those rows or use policy 'repair' to drop them"


__all__ = [
    "ATTRS",
    "BID_ASK",
    "CALENDARS",
    "COLUMNS",
    "INDEX_NAME",
    "OHLC",
    "OHLCV",
    "POLICIES",
    "SPREAD",
    "STALE_BARS_DAILY",
    "STALE_BARS_INTRADAY",
    "TIME_UNIT",
    "Bars",
    "Finding",
    "GapSummary",
    "QualityReport",
    "Severity",
    "detect_calendar",
    "gap_summary",
    "render_report",
    "validate_bars",
]


class _Checker:
    """Carries the policy, the report and row labelling through the steps."""

    def __init__(self, policy: str, where: str | None, lines: np.ndarray | None):
        self.policy = policy
        self.lines = lines
        self.report = QualityReport(where=where, policy=policy)

    def label(self, frame: pd.DataFrame, mask: np.ndarray) -> list[str]:
        """'<timestamp> (line 7)' for the first offending rows of `mask`."""
        pos = np.flatnonzero(mask)[:FIRST_SHOWN]
        rows = frame[_ROW].to_numpy()[pos]
        out = []
        for p, row in zip(pos, rows, strict=True):
            where = f"line {int(self.lines[row])}" if self.lines is not None else f"row {row + 1}"
            out.append(f"{frame.index[p]} ({where})")
        return out

    def add(self, rule: str, severity: Severity, count: int, message: str, first=()) -> None:
        self.report.findings.append(Finding(rule, severity, int(count), message, list(first)))

    def raise_if_strict(self) -> None:
        errors = self.report.by_severity("error")
        if self.policy != "strict" or not errors:
            return
        head = errors[0]
        text = f"[{head.rule}] {head.message}"
        if head.first:
            text += f", first at {head.first[0]}"
        if len(errors) > 1:
            text += f"; also: {', '.join(f.rule for f in errors[1:])}"
        raise DataError(text, where=self.report.where, fix=_FIXES.get(head.rule, _ROW_FIX))


def validate_bars(
    df: pd.DataFrame,
    *,
    policy: str = "strict",
    interval: str | None = None,
    calendar: str | None = None,
    where: str | None = None,
    stale_bars: int | None = None,
    notes: Sequence[str] = (),
    lines: Sequence[int] | np.ndarray | None = None,
) -> tuple[Bars, QualityReport]:
    """Check `df` against the Bars contract; return the (possibly repaired) Bars and a report.

    `df`: DatetimeIndex (or a `timestamp` column) and at least open/high/low/close.
    `policy`: 'strict' raises DataError on the first violated rule (all collected first);
    'repair' sorts, keeps the last of duplicate timestamps, drops impossible rows and
    assumes UTC for naive times, listing each repair. `interval` ('1h') overrides
    `attrs['interval']`, else it is inferred. `calendar` ('crypto'|'equity'|'fx') decides
    which gaps are expected closures; None detects it (no Saturday bars over >= 2
    weekends: a weekday market). `stale_bars`: run of unchanged closes reported as stale
    (default 20 intraday, 5 daily). `notes`: reader remarks added as info findings;
    `lines`: file line number per row, used in messages. Raises DataError for a missing
    price column, an empty frame or (strict) any error finding.
    """
    if policy not in POLICIES:
        raise DataError(unknown_name("policy", str(policy), POLICIES))
    if calendar is not None and calendar not in CALENDARS:
        raise DataError(unknown_name("market calendar", str(calendar), CALENDARS))
    check = _Checker(policy, where, None if lines is None else np.asarray(lines))
    for note in notes:
        check.add("reader", "info", 0, note)
    attrs = dict(df.attrs)
    frame = _coerce(df, check)
    check.report.rows_in = len(frame)
    frame = _check_order(frame, check)
    frame = _check_values(frame, check)
    check.raise_if_strict()
    if frame.empty:
        raise DataError(
            "no bars left" if check.report.rows_in else "no bars (the data is empty)",
            where=where,
            fix="check the file holds data rows",
        )
    frame = frame.drop(columns=_ROW)
    step = _resolve_interval(frame, interval, attrs.get("interval"), check)
    _check_time_grid(frame, step, calendar, stale_bars, check)
    attrs["interval"] = format_interval(step) if step is not None else attrs.get("interval")
    frame.attrs = {k: v for k, v in attrs.items() if v is not None}
    report = check.report
    report.rows_out = len(frame)
    report.start, report.end = str(frame.index[0]), str(frame.index[-1])
    return frame, report


def _coerce(df: pd.DataFrame, check: _Checker) -> pd.DataFrame:
    """Index to UTC DatetimeIndex, columns to canonical float64; unknown columns dropped."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    frame = df.copy()
    if not isinstance(frame.index, pd.DatetimeIndex):
        if INDEX_NAME not in frame.columns:
            raise DataError(
                "bars need a DatetimeIndex (bar open time) or a 'timestamp' column",
                where=check.report.where,
                fix="read files with edgelab.data.readers.read_bars, which parses time columns",
            )
        frame = frame.set_index(pd.to_datetime(frame.pop(INDEX_NAME)))
    lower = {c: str(c).strip().lower() for c in frame.columns}
    frame = frame.rename(columns={c: lc for c, lc in lower.items() if lc in COLUMNS})
    for col in OHLC:
        if col not in frame.columns:
            raise DataError(
                f"missing column '{col}' (columns: {', '.join(map(str, df.columns))})",
                where=check.report.where,
                fix="the Bars contract needs open, high, low, close and volume",
            )
    extra = [str(c) for c in frame.columns if c not in COLUMNS]
    if extra:
        check.add("extra_columns", "info", len(extra), f"dropped columns {extra}")
    frame = frame[[c for c in COLUMNS if c in frame.columns]]
    frame[_ROW] = np.arange(len(frame))
    frame = _numeric(frame, check)
    if "volume" not in frame.columns:
        check.add("missing_volume", "error", len(frame), "no 'volume' column")
        if check.policy == "repair":
            frame.insert(4, "volume", 0.0)
            check.report.repairs.append("added column 'volume' = 0 (the input has none)")
    return _to_utc(frame, check)


def _numeric(frame: pd.DataFrame, check: _Checker) -> pd.DataFrame:
    for col in [c for c in frame.columns if c != _ROW]:
        values = frame[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            bad = (converted.isna() & values.notna()).to_numpy()
            if bad.any():
                first = values[bad].iloc[0]
                check.add(
                    "non_numeric",
                    "error",
                    bad.sum(),
                    f"{int(bad.sum())} non-numeric values in column '{col}' (e.g. {first!r})",
                    check.label(frame, bad),
                )
            values = converted
        frame[col] = values.astype("float64")
    return frame


def _to_utc(frame: pd.DataFrame, check: _Checker) -> pd.DataFrame:
    index = frame.index
    if index.tz is None:
        check.add("naive_timestamps", "error", len(index), "timestamps have no time zone (naive)")
        index = index.tz_localize("UTC")
        if check.policy == "repair":
            check.report.repairs.append("took naive timestamps as UTC")
    elif str(index.tz) != "UTC":
        check.add(
            "timezone_converted", "info", len(index), f"converted times from {index.tz} to UTC"
        )
        index = index.tz_convert("UTC")
    frame.index = index.as_unit(TIME_UNIT).rename(INDEX_NAME)
    return frame


def _check_order(frame: pd.DataFrame, check: _Checker) -> pd.DataFrame:
    """Missing timestamps, unsorted rows, duplicate timestamps (in that order)."""
    nat = np.asarray(frame.index.isna())
    if nat.any():
        text = f"{int(nat.sum())} rows without a time"
        check.add("missing_timestamps", "error", nat.sum(), text, check.label(frame, nat))
        frame = _drop(frame, nat, check, "without a time")
    stamps = frame.index.asi8
    back = np.r_[False, stamps[1:] < stamps[:-1]]
    if back.any():
        check.add(
            "unsorted",
            "error",
            back.sum(),
            f"rows out of time order: {int(back.sum())} rows earlier than the row before",
            check.label(frame, back),
        )
        frame = frame.sort_index(kind="stable")  # stable: the last duplicate stays last
        if check.policy == "repair":
            check.report.repairs.append(f"sorted {len(frame)} rows by time")
    dup = np.asarray(frame.index.duplicated(keep="last"))
    if dup.any():
        check.add(
            "duplicate_timestamps",
            "error",
            dup.sum(),
            f"{int(dup.sum())} duplicate timestamps",
            check.label(frame, dup),
        )
        frame = _drop(frame, dup, check, "with a duplicate timestamp (kept the last)")
    return frame


def _drop(frame: pd.DataFrame, mask: np.ndarray, check: _Checker, why: str) -> pd.DataFrame:
    if check.policy == "repair":
        check.report.repairs.append(f"dropped {int(mask.sum())} rows {why}")
    return frame[~mask]


def _groups(frame: pd.DataFrame) -> list[str]:
    """Column prefixes of the complete OHLC groups present: '', 'bid_', 'ask_'."""
    return [p for p in ("", "bid_", "ask_") if all(f"{p}{c}" in frame for c in OHLC)]


def _row_rules(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, str]]:
    """Boolean mask per impossible-row rule, with its message (NaN compares False)."""
    cols = [c for c in frame.columns if c != _ROW]
    values = frame[cols].to_numpy()
    prices = frame[[c for c in cols if c not in ("volume", SPREAD)]].to_numpy()
    rules: dict[str, tuple[np.ndarray, str]] = {
        "nan_inf": (~np.isfinite(values).all(axis=1), "rows with NaN or inf values"),
        "non_positive_price": ((prices <= 0).any(axis=1), "rows with a price <= 0"),
    }
    zero = np.zeros(len(frame), dtype=bool)
    hl, hoc, loc = zero.copy(), zero.copy(), zero.copy()
    for p in _groups(frame):
        o, h, lo, c = (frame[f"{p}{x}"].to_numpy() for x in OHLC)
        hl |= h < lo
        hoc |= h < np.maximum(o, c)
        loc |= lo > np.minimum(o, c)
    rules["high_below_low"] = (hl, "rows with high < low")
    rules["high_below_open_close"] = (hoc, "rows with high < max(open, close)")
    rules["low_above_open_close"] = (loc, "rows with low > min(open, close)")
    if "volume" in frame:
        rules["negative_volume"] = (frame["volume"].to_numpy() < 0, "rows with negative volume")
    crossed = zero.copy()
    for part in OHLC:
        if f"bid_{part}" in frame and f"ask_{part}" in frame:
            crossed |= frame[f"bid_{part}"].to_numpy() > frame[f"ask_{part}"].to_numpy()
    rules["bid_above_ask"] = (crossed, "rows with bid above ask")
    if SPREAD in frame:
        rules["negative_spread"] = (frame[SPREAD].to_numpy() < 0, "rows with negative spread")
    return rules


def _check_values(frame: pd.DataFrame, check: _Checker) -> pd.DataFrame:
    """Impossible rows: each rule is one finding; repair drops their union once."""
    bad = np.zeros(len(frame), dtype=bool)
    counts = []
    for rule, (mask, text) in _row_rules(frame).items():
        if mask.any():
            check.add(
                rule, "error", mask.sum(), f"{int(mask.sum())} {text}", check.label(frame, mask)
            )
            counts.append(f"{rule}: {int(mask.sum())}")
            bad |= mask
    if bad.any():
        frame = _drop(frame, bad, check, f"that cannot be real bars ({', '.join(counts)})")
    return frame


def _resolve_interval(
    frame: pd.DataFrame, given: str | None, attr: str | None, check: _Checker
) -> pd.Timedelta | None:
    if given is not None:
        step = parse_interval(given)
        if attr is not None and parse_interval(attr) != step:
            check.add("interval", "info", 0, f"interval {given} given; attrs said {attr}")
        return step
    if attr is not None:
        return parse_interval(attr)
    step = infer_interval(frame.index)
    if step is not None:
        check.add("interval", "info", 0, f"interval {format_interval(step)} inferred from spacing")
    return step


def _check_time_grid(
    frame: pd.DataFrame,
    step: pd.Timedelta | None,
    calendar: str | None,
    stale_bars: int | None,
    check: _Checker,
) -> None:
    """Spacing below the interval, gaps (faults vs closures), stale quotes: all reports."""
    report = check.report
    report.interval = format_interval(step) if step is not None else None
    if step is None:
        return
    if calendar is None:
        calendar, why = detect_calendar(frame.index, step)
        if calendar is not None:
            check.add("calendar", "info", 0, f"calendar '{calendar}' detected: {why}")
    report.calendar = calendar
    diffs = np.diff(frame.index.asi8)
    short = diffs < step // pd.Timedelta(1, TIME_UNIT)  # asi8 counts TIME_UNIT
    if short.any():
        mask = np.r_[False, short]
        check.add(
            "spacing_below_interval",
            "warning",
            short.sum(),
            f"{int(short.sum())} bars closer than the {format_interval(step)} interval",
            [str(t) for t in frame.index[mask][:FIRST_SHOWN]],
        )
    report.gaps = gap_summary(frame.index, step, calendar or "crypto")
    gaps = report.gaps
    if gaps.count:
        check.add(
            "gaps",
            "warning",
            gaps.count,
            f"{gaps.count} gaps ({gaps.missing_bars} missing bars), longest {gaps.longest} "
            f"at {gaps.where}",
            gaps.first,
        )
    if gaps.expected:
        check.add("closures", "info", gaps.expected, f"{gaps.expected} expected market closures")
    _check_stale(frame, step, stale_bars, check)


def _check_stale(
    frame: pd.DataFrame, step: pd.Timedelta, stale_bars: int | None, check: _Checker
) -> None:
    if stale_bars is None:
        stale_bars = STALE_BARS_DAILY if step >= pd.Timedelta(days=1) else STALE_BARS_INTRADAY
    close = frame["close"].to_numpy()
    if len(close) < stale_bars:
        return
    new_run = np.r_[True, close[1:] != close[:-1]]
    run_id = np.cumsum(new_run) - 1
    lengths = np.bincount(run_id)
    starts = np.flatnonzero(new_run)
    long_runs = np.flatnonzero(lengths >= stale_bars)
    if not len(long_runs):
        return
    worst = long_runs[np.argmax(lengths[long_runs])]
    first = [f"{frame.index[starts[r]]} ({int(lengths[r])} bars)" for r in long_runs[:FIRST_SHOWN]]
    check.add(
        "stale_quotes",
        "warning",
        len(long_runs),
        f"{len(long_runs)} runs of >= {stale_bars} bars with an unchanged close, longest "
        f"{int(lengths[worst])} bars from {frame.index[starts[worst]]}",
        first,
    )
