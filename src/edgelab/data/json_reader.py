"""JSON bar files -> `RawBars` per symbol.

Three layouts: the candle export of a C# trading app
`[{"symbol", "candles": [{t|time, o, h, l, c, v}]}]` (or one such object; times may be
.NET ticks), the `write_bars` output `{"symbol", ..., "bars": [records]}`, and a plain
list of records. Keys are matched case-insensitively.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from edgelab.data.raw_bars import RawBars, build_raw_bars
from edgelab.data.schema import ATTRS
from edgelab.errors import DataError


def read_json_bars(path: Path, *, tz, dayfirst) -> dict[str, RawBars]:
    """One JSON file -> RawBars per symbol ("" for a single-asset layout); the layouts
    are listed in the module docstring."""
    where = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError("not UTF-8 text", where=where) from exc
    if not text.strip():
        raise DataError("empty file", where=where, fix="the file holds no JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            where=where,
            fix="check the file is complete JSON",
        ) from exc
    low = {str(k).lower(): v for k, v in doc.items()} if isinstance(doc, dict) else {}
    if "bars" in low:
        raw = _records(low["bars"], where, tz, dayfirst, ticks=False)
        raw.attrs = {k: low[k] for k in ATTRS if isinstance(low.get(k), str)}
        return {"": raw}
    entries = [doc] if "candles" in low else doc
    if (
        isinstance(entries, list)
        and entries
        and all(isinstance(e, dict) and "candles" in {str(k).lower() for k in e} for e in entries)
    ):
        return _candle_export(entries, where, tz, dayfirst)
    if isinstance(doc, list) and doc and all(isinstance(e, dict) for e in doc):
        return {"": _records(doc, where, tz, dayfirst, ticks=False)}
    raise DataError(
        "unknown JSON layout",
        where=where,
        fix='expected [{"symbol": ..., "candles": [{"t", "o", "h", "l", "c", "v"}]}] '
        'or a list of {"timestamp", "open", ...} records',
    )


def _candle_export(entries: list[dict], where: str, tz, dayfirst) -> dict[str, RawBars]:
    found: dict[str, list] = {}
    for i, entry in enumerate(entries, start=1):
        low = {str(k).lower(): v for k, v in entry.items()}
        name = low.get("symbol")
        if not isinstance(name, str) or not name:
            raise DataError(f"entry {i} has no 'symbol'", where=where, fix='add "symbol": "NAME"')
        found.setdefault(name, []).append(low["candles"])
    out = {}
    for name, chunks in found.items():
        candles = [c for chunk in chunks for c in (chunk if isinstance(chunk, list) else [None])]
        raw = _records(candles, f"{where}, symbol '{name}'", tz, dayfirst, ticks=True)
        if len(chunks) > 1:
            raw.notes.append(f"{len(chunks)} entries for '{name}' joined")
        out[name] = raw
    return out


def _records(records, where: str, tz, dayfirst, *, ticks: bool) -> RawBars:
    if not isinstance(records, list) or not records:
        raise DataError("no candles/bars (empty list)", where=where, fix="the file holds no bars")
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise DataError(f"candle {i} is {type(rec).__name__}, not an object", where=where)
    return build_raw_bars(pd.DataFrame.from_records(records), where, tz, dayfirst, ticks=ticks)
