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
    """Add the command groups, once per process (main may be called many times in one)."""
    if app.registered_groups:
        return
    from loadwise.cli import audit, demo, mq, report, router, serve, sq, tune

    app.add_typer(sq.app, name="sq")
    app.add_typer(mq.app, name="mq")
    app.add_typer(serve.app, name="serve")
    app.add_typer(router.app, name="router")
    tune.register(app)
    audit.register(app)
    demo.register(app)
    report.register(app)


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
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = app(args=args, standalone_mode=False)
    except ConfigError as exc:
        _error(str(ConfigError(flag_for(exc.field, args), exc.problem)))
        sys.exit(2)
    except typer.TyperException as exc:  # a flag's name or value, as click words it
        if type(exc).__name__ == "NoArgsIsHelpError":  # `loadwise sq`: the group's help
            exc.show()
        else:
            _error(" ".join(exc.format_message().split()))
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    """One line on stderr, the user's error (shown as typed: brackets in it are not markup)."""
    from rich.markup import escape

    from loadwise.app.progress import console

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def flag_for(field: str, args: list[str]) -> str:
    """The command-line name of a library field: the one place fields become flags.

    Library errors name the field they reject by its Python name (`out`, `lambda_init`,
    `rates`); when the command being run has an option or argument of that name, the
    user sees its flag (`--out`, `--lambda-init`) or metavar instead. Other fields
    (a scenario file's `scenarios.normal.weight`, a CSV line) are shown as they are.
    """
    command = typer.main.get_command(app)
    for token in args:
        subcommands = getattr(command, "commands", {})
        if token not in subcommands:
            break
        command = subcommands[token]
    for param in command.params:
        if param.name != field:
            continue
        if param.param_type_name == "option":
            return next((o for o in param.opts if o.startswith("--")), param.opts[0])
        return param.metavar or param.name.upper()
    return field
