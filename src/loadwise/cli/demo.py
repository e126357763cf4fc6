"""`loadwise demo`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command()
    def demo(
        out: Path = typer.Option(None, "--out", help="Run folder (default: runs/demo-<time>); an existing one resumes."),
        seed: int = typer.Option(0, "--seed", help="Seed of every random draw in the demo."),
    ) -> None:
        """Run loadwise's main job on embedded defaults and write a report."""
        from loadwise.app.demo import demo as run_demo
        from loadwise.app.progress import console

        report = run_demo(out, seed=seed, log=lambda line: console.print(line, highlight=False))
        console.print(f"[bold green]Report:[/] {report} (Markdown: {report.with_suffix('.md')})", highlight=False)
