"""Errors that loadwise shows to users instead of a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input: a config file, a CLI flag, a CSV column, a scenario set.

    The message always starts with the offending field and says what is allowed, so
    the CLI can print it as one line.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class RunFailed(RuntimeError):
    """One simulation crashed or ran past its time limit; `reason` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
