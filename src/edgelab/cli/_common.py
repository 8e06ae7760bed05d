"""Helpers shared by the CLI modules: one rich console, table printing."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
