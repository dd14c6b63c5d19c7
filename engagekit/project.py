"""A project: a folder holding ``engagekit.toml`` (Pinpoint's project settings) and ``store/``.

>>> from engagekit import Project
>>> project = Project.create("acme")            # doctest: +SKIP
>>> project = Project.open("acme")              # doctest: +SKIP
>>> project.settings.default_timezone            # doctest: +SKIP
'UTC'
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engagekit.errors import ProjectError
from engagekit.store import Store

SETTINGS_FILE = "engagekit.toml"
STORE_DIR = "store"


class QuietTime(BaseModel):
    """Pinpoint's QuietTime: ``HH:MM`` start and end in the recipient's local time."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    start: str = Field(alias="Start", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(alias="End", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ProjectLimits(BaseModel):
    """Pinpoint's project-level CampaignLimits defaults plus per-user caps (0 means unlimited)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    daily: int = Field(0, alias="Daily", ge=0, description="messages per endpoint per 24 h")
    total: int = Field(0, alias="Total", ge=0, description="messages per endpoint per campaign")
    messages_per_second: int = Field(0, alias="MessagesPerSecond", ge=0)
    maximum_duration: int = Field(0, alias="MaximumDuration", ge=0, description="seconds")
    max_per_user_per_day: int = Field(0, ge=0)
    max_per_user_per_campaign: int = Field(0, ge=0)


class ProjectSettings(BaseModel):
    """Everything in ``engagekit.toml``. Channel credentials never live here (environment only)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    default_timezone: str = "UTC"
    default_country: str = "US"
    limits: ProjectLimits = ProjectLimits()
    quiet_time: QuietTime | None = None
    event_retention_days: int = Field(90, ge=1)
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"email": {"type": "simulator"}},
        description="channel name -> settings; 'type' picks the registered channel class",
    )

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from exc
        return value


class Project:
    """An open project. Create with :meth:`create`, open with :meth:`open`."""

    def __init__(self, path: Path, settings: ProjectSettings) -> None:
        self.path = path
        self.settings = settings
        self.store = Store(path / STORE_DIR)

    @classmethod
    def create(cls, path: Path | str, *, name: str | None = None, **settings: Any) -> Project:
        """Make a new project folder; fails if one already exists there."""
        root = Path(path)
        if (root / SETTINGS_FILE).exists():
            raise ProjectError(f"{root} already holds a project ({SETTINGS_FILE})", path=root)
        try:
            parsed = ProjectSettings(name=name or root.resolve().name, **settings)
        except ValidationError as exc:
            raise ProjectError(f"invalid project settings: {exc}", path=root) from exc
        root.mkdir(parents=True, exist_ok=True)
        (root / STORE_DIR).mkdir(exist_ok=True)
        _write_settings(root / SETTINGS_FILE, parsed)
        project = cls(root, parsed)
        project.store.migrate()
        return project

    @classmethod
    def open(cls, path: Path | str) -> Project:
        """Open an existing project and bring its store's schema up to date."""
        root = Path(path)
        file = root / SETTINGS_FILE
        if not file.exists():
            raise ProjectError(
                f"{root} is not an engagekit project (no {SETTINGS_FILE}); "
                f"create one with `engagekit init {root}`",
                path=root,
            )
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
            settings = ProjectSettings.model_validate(data)
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ProjectError(f"{file}: {exc}", path=file) from exc
        project = cls(root, settings)
        project.store.migrate()
        return project

    def update_settings(self, **changes: Any) -> ProjectSettings:
        """Change settings and write them back to ``engagekit.toml``."""
        merged = self.settings.model_dump(by_alias=False) | changes
        self.settings = ProjectSettings.model_validate(merged)
        _write_settings(self.path / SETTINGS_FILE, self.settings)
        return self.settings

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r}, name={self.settings.name!r})"


def _write_settings(file: Path, settings: ProjectSettings) -> None:
    data = settings.model_dump(mode="json", exclude_none=True, by_alias=False)
    tmp = file.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    tmp.replace(file)
