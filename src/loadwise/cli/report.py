"""`loadwise report RUN_DIR [--open]`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""

    @app.command()
    def report(
        run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A run folder of any loadwise command."),
        open_page: bool = typer.Option(False, "--open", help="Open the HTML report in the web browser."),
    ) -> None:
        """Write a run folder's report again from its data (after an upgrade, or for an interrupted run)."""
        import webbrowser

        from loadwise.app.progress import console
        from loadwise.app.report import render_report

        paths = render_report(run_dir)
        console.print(f"[bold green]Report:[/] {paths['html']} (Markdown: {paths['markdown']})", highlight=False)
        if open_page:
            webbrowser.open(paths["html"].resolve().as_uri())
