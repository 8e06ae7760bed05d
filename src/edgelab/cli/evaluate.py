"""`edgelab walkforward`, `edgelab canary`, `edgelab ablate` and `edgelab cv`: the
honest-evaluation commands, thin shells over `edgelab.evaluate.walkforward`, `.canary`,
`.ablate` and `.model_selection`."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelab.cli._common import console

CONFIG_HELP = "experiment YAML (default: configs/default.yaml)"
SET_HELP = "override a config value: section.key=value (repeatable)"


def _load(config: Path | None, overrides: list[str] | None):
    from edgelab.cli.run import _default_config
    from edgelab.config import load_config

    return load_config(config or _default_config(), overrides or [])


def walkforward_command(
    config: Path | None = typer.Argument(None, help=CONFIG_HELP),
    set_: list[str] = typer.Option(None, "--set", "-s", help=SET_HELP),
    window: str | None = typer.Option(None, help="expanding or rolling (walkforward.window)"),
    train_size: int | None = typer.Option(None, help="training window in bars"),
    step: int | None = typer.Option(None, help="retrain every N bars"),
    embargo: int | None = typer.Option(None, help="bars between train, validation and test"),
    mode: str | None = typer.Option(None, help="retrain or finetune (walkforward.mode)"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="parent of the run folder"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or leaderboard"),
) -> None:
    """Walk-forward: retrain through time, backtest the stitched out-of-sample history.

    Writes a run folder whose report shows the stitched out-of-sample equity.
    """
    from edgelab.evaluate.walkforward import run_walkforward

    flags = {"window": window, "train_size": train_size, "step": step, "embargo": embargo,
             "mode": mode}  # fmt: skip
    extra = [f"walkforward.{k}={v}" for k, v in flags.items() if v is not None]
    cfg = _load(config, (set_ or []) + extra)
    run_dir = run_walkforward(cfg, runs_dir=runs_dir, console=console, quiet=quiet)
    if quiet:
        print(run_dir)


def canary_command(
    config: Path | None = typer.Argument(None, help=CONFIG_HELP),
    set_: list[str] = typer.Option(None, "--set", "-s", help=SET_HELP),
    seeds: str | None = typer.Option(None, help="random-walk seeds, comma separated"),
    n_bars: int | None = typer.Option(None, "--bars", help="bars per synthetic market"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="only the verdict"),
) -> None:
    """Leakage canary: no edge on random walks, the planted signal found. Exit 3 on failure.

    Runs the configured pipeline on synthetic markets; writes nothing.
    """
    from edgelab.evaluate.canary import print_canary, run_canary

    extra = []
    if seeds is not None:
        extra.append(f"canary.seeds=[{seeds}]")
    if n_bars is not None:
        extra.append(f"canary.n_bars={n_bars}")
    cfg = _load(config, (set_ or []) + extra)
    result = run_canary(cfg, console=console, quiet=quiet)
    print_canary(console, result, quiet=quiet)
    if not result.passed:
        raise typer.Exit(code=3)


def ablate_command(
    config: Path | None = typer.Argument(None, help=CONFIG_HELP),
    set_: list[str] = typer.Option(None, "--set", "-s", help=SET_HELP),
    grid: list[str] = typer.Option(
        None,
        "--grid",
        "-g",
        help="factor=v1,v2 (features.set, window, labels.horizon, scaling.method or any key); "
        "repeatable, replaces that factor's default values",
    ),  # fmt: skip
    full: bool = typer.Option(False, "--full", help="every combination instead of one at a time"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="parent of the run folders"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or table"),
) -> None:
    """Ablation: vary feature set, window, horizon and scaler; compare with intervals.

    One run per variant; the table goes to CSV, Markdown and HTML.
    """
    from edgelab.evaluate.ablate import print_ablation, run_ablation

    cfg = _load(config, set_ or [])
    out = run_ablation(
        cfg, grid=grid or [], full=full, runs_dir=runs_dir, console=console, quiet=quiet
    )
    if quiet:
        print(out.folder)
    else:
        print_ablation(console, out)


def cv_command(
    config: Path | None = typer.Argument(None, help=CONFIG_HELP),
    set_: list[str] = typer.Option(None, "--set", "-s", help=SET_HELP),
    folds: int = typer.Option(5, "--folds", help="number of purged k-fold folds"),
    embargo: int | None = typer.Option(
        None, "--embargo", help="bars left out after each held-out fold (default: look-ahead)"
    ),
    metric: str = typer.Option("auc", "--metric", help="auc, log_loss, accuracy or ic"),
    runs_dir: Path | None = typer.Option(None, "--runs-dir", help="parent of the run folder"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the run folder"),
) -> None:
    """Model selection: purged k-fold with embargo on the train+validation span.

    The test span is never used; writes cv.json and cv.csv (not counted as a trial).
    """
    from edgelab.evaluate.model_selection import check_metric, print_cv, run_cv

    check_metric(metric)  # a typo fails before the config and the data are read
    cfg = _load(config, set_ or [])
    folder, result = run_cv(cfg, folds=folds, embargo=embargo, metric=metric, runs_dir=runs_dir)
    if quiet:
        print(folder)
    else:
        print_cv(console, result, folder)


def register(app: typer.Typer) -> None:
    """Mount the evaluation commands on the main app."""
    app.command("walkforward")(walkforward_command)
    app.command("canary")(canary_command)
    app.command("ablate")(ablate_command)
    app.command("cv")(cv_command)
