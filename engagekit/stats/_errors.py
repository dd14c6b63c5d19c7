"""The error the statistics engine raises for unusable input."""

from __future__ import annotations

from engagekit.errors import DefinitionError


class StatsInputError(DefinitionError):
    """Statistics input is unusable (bad counts, non-0/1 proportions, unknown arm or metric).

    ``column`` names the offending frame column when there is one.
    """

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message, path=column, kind="stats input")
        self.column = column
