"""`edgelab config ...` commands: show a config with every default filled in, validate one."""

from __future__ import annotations

from pathlib import Path

import typer

from edgelab.cli._common import console

app = typer.Typer(help="Inspect configs.", no_args_is_help=True)


@app.command("show")
def show(
    file: Path | None = typer.Argument(None, help="experiment YAML (omit: the defaults)"),
    set_: list[str] = typer.Option(None, "--set", "-s", help="override: section.key=value"),
) -> None:
    """Print the resolved config (YAML) with every default filled in."""
    from edgelab.config import dump_config, load_config

    print(dump_config(load_config(file, set_ or [])), end="")


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="experiment YAML"),
    set_: list[str] = typer.Option(None, "--set", "-s", help="override: section.key=value"),
) -> None:
    """Check a config without running it: keys, types, model / feature / policy names."""
    from edgelab.config import load_config
    from edgelab.pipeline import check_config

    cfg = load_config(file, set_ or [])
    plan = check_config(cfg)
    models = ", ".join(f"{m.name} ({m.config.type})" for m in plan.models)
    console.print(f"[green]ok[/green]: {file} is valid; models: {models}")
