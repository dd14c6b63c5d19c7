"""Segments saved in a project: named, versioned definitions of kind ``"segment"``.

Saving checks that every base segment exists (and is not deleted, unless pinned to a version)
and that no segment includes itself through its bases. A deleted segment stays readable by
pinned version, so a campaign that pinned it keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from engagekit.errors import DefinitionError, NotFoundError
from engagekit.segments._model import Segment, SegmentReference
from engagekit.segments._plan import Compiler, Resolver

if TYPE_CHECKING:
    from engagekit.project import Project

KIND = "segment"


def resolver(project: Project) -> Resolver:
    """Look base segments up in the project (a pinned version of a deleted one still resolves)."""

    def resolve(ref: SegmentReference, path: str) -> Segment:
        try:
            record = project.store.get_definition(KIND, ref.id, ref.version)
        except NotFoundError:
            deleted = ref.id in project.store.names(KIND, include_deleted=True)
            what = "deleted" if deleted and ref.version is None else "unknown"
            known = project.store.names(KIND)
            raise DefinitionError(
                f"{what} base segment {ref.id!r}"
                + (f" version {ref.version}" if ref.version else "")
                + "; expected the name of a saved segment"
                + (f" ({', '.join(known)})" if known else " (none saved yet)")
                + (" or a pinned version of the deleted one" if what == "deleted" else ""),
                path=f"{path}.Id",
                kind=KIND,
            ) from None
        return Segment.model_validate(record.body)

    return resolve


def check_references(project: Project, segment: Segment) -> None:
    """Raise DefinitionError for unknown or deleted bases and for cycles through ``segment``."""
    compiler = Compiler(0, resolver(project))
    compiler._stack.append((segment.name, None))
    compiler.segment(segment)


def save_segment(project: Project, segment: Segment, *, comment: str | None = None) -> int:
    """Save a new version of ``segment`` under its name and make it active; returns the version.

    >>> vip = segment("vip").metric("lifetime_value", ">=", 500).build()  # doctest: +SKIP
    >>> save_segment(project, vip)  # doctest: +SKIP
    1
    """
    check_references(project, segment)
    return project.store.save_definition(KIND, segment.name, segment.to_dict(), comment=comment)


def load_segment(project: Project, name: str, version: int | None = None) -> Segment:
    """The active version of a segment, or a pinned ``version`` (readable even once deleted)."""
    record = project.store.get_definition(KIND, name, version)
    return Segment.model_validate(record.body)


def list_segments(project: Project, *, include_deleted: bool = False) -> pd.DataFrame:
    """One row per saved segment: name, active and latest version, deleted, updated_at, kind."""
    table = project.store.list_definitions(KIND, include_deleted=include_deleted)
    kinds: list[str] = []
    for name, version in zip(table["name"], table["active_version"], strict=True):
        body = project.store.get_definition(KIND, name, int(version)).body
        kinds.append("imported" if body.get("ImportDefinition") else "dynamic")
    return table.assign(type=pd.Series(kinds, index=table.index, dtype="string"))


def segment_versions(project: Project, name: str) -> list[dict[str, Any]]:
    """Every stored version of a segment (oldest first) with its creation time and comment."""
    return [
        {"version": r.version, "created_at": r.created_at, "active": r.active, "comment": r.comment}
        for r in project.store.versions(KIND, name)
    ]


def copy_segment(project: Project, name: str, new_name: str) -> int:
    """Save the active version of ``name`` as version 1 of ``new_name`` (renamed inside too)."""
    if new_name in project.store.names(KIND, include_deleted=True):
        raise DefinitionError(
            f"{new_name!r} already exists; pick another name or load and save it to edit",
            kind=KIND,
        )
    source = load_segment(project, name)
    return save_segment(project, source.model_copy(update={"name": new_name}))


def delete_segment(project: Project, name: str) -> None:
    """Mark deleted: gone from lists and unpinned references; pinned versions stay readable."""
    project.store.delete_definition(KIND, name)
