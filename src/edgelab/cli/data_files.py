"""`edgelab data validate FILE` and `edgelab data resample FILE --to 1h -o OUT`.

Thin shells over `read_bars_reports`, `render_report`, `resample_bars` and `write_bars`.
A file that breaks the Bars contract under policy 'strict' raises DataError, which
`edgelab.cli.main` prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgelab.cli._common import console
from edgelab.data.quality import render_report
from edgelab.data.readers import read_bars_reports, write_bars
from edgelab.data.resample import resample_bars
from edgelab.data.schema import POLICIES
from edgelab.errors import DataError, unknown_name

_POLICY = typer.Option(
    "strict",
    "--policy",
    help="strict: any violation is an error; repair: sort, drop duplicates and impossible "
    "rows, and list each repair",
)
_TZ = typer.Option(None, "--tz", help="time zone of naive times in the file, e.g. UTC")
_DAYFIRST = typer.Option(
    None, "--dayfirst/--monthfirst", help="order of day and month in dates like 01/02/2020"
)
_SYMBOL = typer.Option(None, "--symbol", help="the symbol to use (or pick, in a many-symbol file)")


def _check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise DataError(unknown_name("policy", policy, POLICIES))
    return policy


def validate(
    file: Path = typer.Argument(..., help="CSV, Parquet, Feather or JSON bar file"),
    policy: str = _POLICY,
    interval: str | None = typer.Option(None, "--interval", help="bar interval, e.g. 1h"),
    as_json: bool = typer.Option(False, "--json", help="print the report(s) as JSON"),
    symbol: str | None = _SYMBOL,
    tz: str | None = _TZ,
    dayfirst: bool | None = _DAYFIRST,
) -> None:
    """Read FILE, check it against the Bars contract and print the quality report."""
    reports = read_bars_reports(
        file,
        symbol=symbol,
        interval=interval,
        policy=_check_policy(policy),
        tz=tz,
        dayfirst=dayfirst,
    )
    if as_json:
        doc = {name: report.to_dict() for name, (_, report) in reports.items()}
        typer.echo(json.dumps(doc, indent=2))
        return
    for name, (_, report) in reports.items():
        console.rule(f"[bold]{name}")
        console.print(render_report(report))


def resample(
    file: Path = typer.Argument(..., help="CSV, Parquet, Feather or JSON bar file"),
    to: str = typer.Option(..., "--to", help="the coarser interval, e.g. 1h"),
    out: Path = typer.Option(..., "-o", "--out", help="output file; format by extension"),
    drop_incomplete: bool = typer.Option(
        False, "--drop-incomplete", help="drop the last bar when it has too few source bars"
    ),
    policy: str = _POLICY,
    symbol: str | None = _SYMBOL,
    tz: str | None = _TZ,
    dayfirst: bool | None = _DAYFIRST,
) -> None:
    """Resample FILE to a coarser interval and write it to OUT (atomically)."""
    reports = read_bars_reports(
        file, symbol=symbol, policy=_check_policy(policy), tz=tz, dayfirst=dayfirst
    )
    if len(reports) > 1:
        raise DataError(
            f"{file.name} holds {len(reports)} symbols ({', '.join(reports)})",
            fix="pick one with --symbol",
        )
    [(name, (bars, _))] = reports.items()
    coarse = resample_bars(bars, to, drop_incomplete=drop_incomplete)
    write_bars(coarse, out)
    console.print(
        f"{name}: {len(bars)} bars of {bars.attrs.get('interval')} -> {len(coarse)} bars of "
        f"{to} written to {out}"
    )


def register(app: typer.Typer) -> None:
    """Mount `validate` and `resample` on the `edgelab data` sub-app."""
    app.command("validate")(validate)
    app.command("resample")(resample)
