"""`edgelab run` (the whole pipeline) and `edgelab demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelab.cli._common import console

DEFAULT_CONFIG = Path("configs/default.yaml")


def _default_config() -> Path:
    """configs/default.yaml of the working directory, else the one beside the sources."""
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    beside = Path(__file__).resolve().parents[3] / DEFAULT_CONFIG
    return beside if beside.is_file() else DEFAULT_CONFIG


def run_command(
    config: Path | None = typer.Argument(
        None, help="experiment YAML (default: configs/default.yaml)"
    ),
    set_: list[str] = typer.Option(
        None, "--set", "-s", help="override a config value: section.key=value (repeatable)"
    ),
    mlflow: bool = typer.Option(False, "--mlflow", help="also log to MLflow (tracking.mlflow)"),
    runs_dir: Path | None = typer.Option(
        None, "--runs-dir", help="parent of the run folder (tracking.runs_dir)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or leaderboard"),
) -> None:
    """Run an experiment: data -> features -> labels -> split -> models -> backtest -> report."""
    from edgelab.config import load_config
    from edgelab.pipeline import run_experiment

    cfg = load_config(config or _default_config(), set_ or [])
    run_dir = run_experiment(
        cfg, runs_dir=runs_dir, mlflow=True if mlflow else None, console=console, quiet=quiet
    )
    if quiet:
        print(run_dir)


def demo_command(
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="parent of the run folder"),
) -> None:
    """Run configs/default.yaml on the bundled EURUSD hourly sample and show the report path."""
    from edgelab.config import load_config
    from edgelab.pipeline import run_experiment

    run_dir = run_experiment(load_config(_default_config()), runs_dir=runs_dir, console=console)
    console.print(
        f"\n[bold green]demo done.[/bold green] Open the report: {run_dir / 'report.html'}"
    )


def register(app: typer.Typer) -> None:
    """Mount the top-level pipeline commands on the main app."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
