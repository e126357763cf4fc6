"""Errors that loadwise shows to users instead of a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input: a config file, a CLI flag, a CSV column, a scenario set.

    The message always starts with the offending field and says what is allowed, so
    the CLI can print it as one line: line breaks and other control characters (from a
    file's keys, a library's message) are shown escaped.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = _one_line(field)
        self.problem = _one_line(problem)
        super().__init__(f"{self.field}: {self.problem}")


def _one_line(text: str) -> str:
    """`text` with every non-printable character written as its escape (a newline as \\n)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class RunFailed(RuntimeError):
    """One simulation crashed or ran past its time limit; `reason` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
