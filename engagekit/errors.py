"""Exceptions raised by engagekit.

Every error derives from :class:`EngagekitError` and carries the data that explains it, so a
notebook can show the cause and a program can act on it.

    EngagekitError
    ├── ProjectError            the project folder or its settings are missing or malformed
    │   └── StoreVersionError   the store was written by a newer engagekit
    ├── DefinitionError         a user definition (segment, template, campaign) is invalid
    │   └── NotFoundError       a named definition or version does not exist
    ├── ImportFileError         a file cannot be read at all (empty, not UTF-8, mixed formats)
    ├── TemplateError           a template does not compile or cannot render
    ├── ChannelError            a channel is unknown, misconfigured or refused a message
    └── DeliveryError           a run cannot be delivered (ledger, limits, quotas)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EngagekitError(Exception):
    """Base class of every error engagekit raises on purpose."""


class ProjectError(EngagekitError):
    """The project folder or its ``engagekit.toml`` is missing or malformed."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class StoreVersionError(ProjectError):
    """The store's schema is newer than this engagekit understands."""

    def __init__(self, path: Path | str, found: int, supported: int) -> None:
        super().__init__(
            f"the store at {path} has schema version {found}, but this engagekit supports up to "
            f"{supported}; upgrade engagekit (pip install -U engagekit) to open it",
            path=path,
        )
        self.found = found
        self.supported = supported


class DefinitionError(EngagekitError):
    """A definition is invalid; ``path`` locates the bad field (``"Treatments.2.SizePercent"``)."""

    def __init__(self, message: str, *, path: str | None = None, kind: str | None = None) -> None:
        where = f"{kind + ' ' if kind else ''}{'at ' + path + ': ' if path else ''}"
        super().__init__(f"{where}{message}" if where else message)
        self.path = path
        self.kind = kind


class NotFoundError(DefinitionError):
    """A named definition (or a version of it) does not exist in the project."""

    def __init__(
        self, kind: str, name: str, version: int | None = None, known: list[str] | None = None
    ):
        what = f"{kind} {name!r}" + (f" version {version}" if version is not None else "")
        hint = f"; known: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"{what} does not exist in this project{hint}", kind=None)
        self.name = name
        self.version = version


class ImportFileError(EngagekitError):
    """An input file cannot be imported at all; rows that are merely bad are rejected instead."""

    def __init__(self, file: str | Path, reason: str, *, line: int | None = None) -> None:
        at = f", line {line}" if line is not None else ""
        super().__init__(f"{file}{at}: {reason}")
        self.file = str(file)
        self.line = line
        self.reason = reason


class TemplateError(EngagekitError):
    """A template does not compile or render; names the template, part, line and column."""

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        part: str | None = None,
        line: int | None = None,
        column: int | None = None,
        endpoint_id: str | None = None,
    ) -> None:
        where = ", ".join(
            p
            for p in (
                f"template {template!r}" if template else "",
                f"part {part}" if part else "",
                f"line {line}" if line is not None else "",
                f"column {column}" if column is not None else "",
                f"endpoint {endpoint_id!r}" if endpoint_id else "",
            )
            if p
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.template = template
        self.part = part
        self.line = line
        self.column = column
        self.endpoint_id = endpoint_id


class ChannelError(EngagekitError):
    """A channel is unknown or misconfigured, or a provider refused a message."""

    def __init__(self, message: str, *, channel: str | None = None, details: Any = None) -> None:
        super().__init__(f"channel {channel!r}: {message}" if channel else message)
        self.channel = channel
        self.details = details


class DeliveryError(EngagekitError):
    """A run cannot be delivered (ledger conflict, limits, quotas)."""
