"""Reports: Markdown + self-contained HTML + PNG figures, built from ordered blocks."""

import os

# Reports are written on machines without a screen; never ask for a GUI backend.
os.environ.setdefault("MPLBACKEND", "Agg")

from loadwise.report.document import Report

__all__ = ["Report"]
