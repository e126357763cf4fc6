"""`loadwise ...`: the command line. Thin: parse, call the library, print.

Each command group lives in its own module and imports the library lazily, so that
`loadwise --help` starts fast. User errors (ConfigError) print as one line and exit 2.
"""

from __future__ import annotations

import sys

import typer

from loadwise import __version__
from loadwise.errors import ConfigError

app = typer.Typer(
    name="loadwise",
    help="Tune and train systems that must hold up at every load.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from loadwise.cli import audit, demo, router, serve, sq, tune

    app.add_typer(sq.app, name="sq")
    app.add_typer(serve.app, name="serve")
    app.add_typer(router.app, name="router")
    tune.register(app)
    audit.register(app)
    demo.register(app)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(f"loadwise {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `loadwise` console script."""
    _register()
    try:
        app(args=argv, standalone_mode=True)
    except ConfigError as exc:
        from loadwise.progress import console

        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
