"""Bundled real samples: market bars that ship inside installed, permissively licensed packages.

This module owns the catalogue behind `sample:NAME` and `edgelab data samples`: where each
file lives (found with importlib.resources, never by a hard-coded path), how to parse it, and
its provenance. Licences were read from each package's dist-info (METADATA and LICENSE):

- gym-anytrading 2.0.0: `License: MIT` (LICENSE: MIT, (c) 2019 Mohammad Amin Haghpanah).
- arch 8.0.0: `License-Expression: NCSA` (LICENSE.md: University of Illinois/NCSA, (c) 2017
  Kevin Sheppard).

The licence is the package's; the quotes inside come from Dukascopy (EURUSD) and Yahoo
Finance (GOOGL, S&P 500, NASDAQ) as bundled by those authors. No AGPL or unlicensed package
is used. A sample whose package is not installed is simply not listed.

Parsing is raw: `load_sample` returns an unvalidated frame in the Bars layout; the source
registry (`edgelab.data.sources.load_bars`) runs it through `validate_bars` like any source.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from edgelab.errors import DataError, SourceError, unknown_name

_PRICE_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Volume": "volume",
}


@dataclass(frozen=True)
class Sample:
    """One bundled sample: where it lives, how to parse it and what it is.

    `span` is the documented (first, last) bar open time, UTC ISO dates; `rows` the row count.
    Daily bars are stamped at 00:00 UTC of the trading date.
    """

    name: str
    symbol: str
    interval: str
    calendar: str
    package: str
    resource: str  # "pkg.subpackage/file.csv" for importlib.resources
    date_column: str
    date_format: str
    licence: str
    description: str
    span: tuple[str, str]
    rows: int
    quote: str = "trade"  # "ask" when the prices are ask quotes, not trades or mids


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample(
            name="eurusd_1h",
            symbol="EURUSD",
            interval="1h",
            calendar="fx",
            package="gym-anytrading",
            resource="gym_anytrading.datasets.data/FOREX_EURUSD_1H_ASK.csv",
            date_column="Time",
            date_format="%d.%m.%Y %H:%M:%S.%f",
            licence="MIT",
            description="EUR/USD hourly ASK quotes for 2017 (Dukascopy), UTC; FX weekend "
            "closures Fri 21/22:00 to Sun 21/22:00 UTC and a Christmas break",
            span=("2017-01-01 22:00", "2017-12-29 21:00"),
            rows=6225,
            quote="ask",
        ),
        Sample(
            name="googl_1d",
            symbol="GOOGL",
            interval="1d",
            calendar="equity",
            package="gym-anytrading",
            resource="gym_anytrading.datasets.data/STOCKS_GOOGL.csv",
            date_column="Date",
            date_format="%Y-%m-%d",
            licence="MIT",
            description="Alphabet class A daily stock bars (Yahoo Finance, split-adjusted)",
            span=("2009-05-22", "2018-08-29"),
            rows=2335,
        ),
        Sample(
            name="sp500_1d",
            symbol="SP500",
            interval="1d",
            calendar="equity",
            package="arch",
            resource="arch.data.sp500/sp500.csv.gz",
            date_column="Date",
            date_format="%m/%d/%Y",
            licence="NCSA",
            description="S&P 500 index daily bars (Yahoo Finance ^GSPC)",
            span=("1999-01-04", "2018-12-31"),
            rows=5031,
        ),
        Sample(
            name="nasdaq_1d",
            symbol="NASDAQ",
            interval="1d",
            calendar="equity",
            package="arch",
            resource="arch.data.nasdaq/nasdaq.csv.gz",
            date_column="Date",
            date_format="%m/%d/%Y",
            licence="NCSA",
            description="NASDAQ Composite index daily bars (Yahoo Finance ^IXIC)",
            span=("1999-01-04", "2018-12-31"),
            rows=5031,
        ),
    )
}


def _package_installed(sample: Sample) -> bool:
    module = sample.resource.split("/", 1)[0].split(".", 1)[0]
    return importlib.util.find_spec(module) is not None


def available_samples() -> dict[str, Sample]:
    """The samples whose package is installed, by name (lower-case)."""
    return {name: s for name, s in SAMPLES.items() if _package_installed(s)}


def get_sample(name: str) -> Sample:
    """The catalogue entry for `name`; SourceError with a did-you-mean when unknown/absent."""
    known = available_samples()
    key = name.strip().lower()
    if key not in known:
        if key in SAMPLES:
            raise SourceError(
                f"sample '{key}' needs the package '{SAMPLES[key].package}', which is not "
                f"installed (pip install {SAMPLES[key].package})"
            )
        raise SourceError(unknown_name("sample", name, known))
    return known[key]


def load_sample(name: str) -> pd.DataFrame:
    """Read sample `name` into the Bars layout, not yet validated.

    Returns float64 `open high low close volume` (plus `ask_open..ask_close`, equal to OHLC,
    for ask-quote samples) on a UTC DatetimeIndex `timestamp` of bar open times, with attrs
    `symbol`, `interval`, `source` ("sample:NAME"), `calendar`, `licence`, `package`, `quote`.
    The `Adj Close` column of the Yahoo files is dropped: in these files it equals `Close`.
    """
    sample = get_sample(name)
    package, filename = sample.resource.split("/", 1)
    where = f"sample:{sample.name} ({sample.package}: {filename})"
    with resources.files(package).joinpath(filename).open("rb") as handle:
        raw = pd.read_csv(handle, compression="gzip" if filename.endswith(".gz") else None)
    missing = [c for c in [sample.date_column, *_PRICE_COLUMNS] if c not in raw.columns]
    if missing:
        raise DataError(
            f"bundled file lacks columns {missing}",
            where=where,
            fix=f"the installed {sample.package} changed its data; report it to edgelab",
        )
    stamps = pd.to_datetime(raw[sample.date_column], format=sample.date_format, utc=True)
    frame = raw[list(_PRICE_COLUMNS)].rename(columns=_PRICE_COLUMNS).astype("float64")
    frame.index = pd.DatetimeIndex(stamps, name="timestamp")
    if sample.quote == "ask":
        for column in ("open", "high", "low", "close"):
            frame[f"ask_{column}"] = frame[column]
    frame.attrs.update(
        symbol=sample.symbol,
        interval=sample.interval,
        source=f"sample:{sample.name}",
        calendar=sample.calendar,
        licence=sample.licence,
        package=sample.package,
        quote=sample.quote,
    )
    return frame
