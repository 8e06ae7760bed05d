"""The `edgelab` command line: a thin typer shell over the library.

Each stage has its own module here (`data.py`, `features.py`, `labels.py`, ...) that
defines a `typer.Typer` sub-app; this module mounts them. Exit codes: 0 ok, 2 bad input
(an `EdgelabError`, printed as one line), 1 a bug (traceback).
"""

from __future__ import annotations

import sys

import typer

from edgelab.cli import config as config_cli
from edgelab.cli import data as data_cli
from edgelab.cli import evaluate as evaluate_cli
from edgelab.cli import features as features_cli
from edgelab.cli import labels as labels_cli
from edgelab.cli import run as run_cli
from edgelab.errors import EdgelabError

app = typer.Typer(
    name="edgelab",
    help="Deep-learning market prediction that tells the truth about its results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(config_cli.app, name="config")
app.add_typer(features_cli.app, name="features")
app.add_typer(labels_cli.app, name="labels")
run_cli.register(app)
evaluate_cli.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map errors to exit codes.

    Usage errors (unknown command or option) exit 2 through typer's standalone mode;
    an `EdgelabError` prints one line and exits with its code (2); anything else is a
    bug and keeps its traceback (exit 1).
    """
    try:
        app(args=argv, prog_name="edgelab")
    except EdgelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
