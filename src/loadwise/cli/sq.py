"""`loadwise sq ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="sq commands.", no_args_is_help=True)
