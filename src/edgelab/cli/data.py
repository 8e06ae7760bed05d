"""`edgelab data ...` commands, mounted from three modules:
`data_files` (validate, resample), `data_sources` (show, samples) and
`data_download` (download, update, cached) and `data_dukascopy` (dukascopy)."""

from __future__ import annotations

import typer

from edgelab.cli import data_download, data_dukascopy, data_files, data_sources

app = typer.Typer(help="Load, validate, resample and download market data.", no_args_is_help=True)
data_files.register(app)
data_sources.register(app)
data_download.register(app)
data_dukascopy.register(app)
