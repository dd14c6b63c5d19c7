"""Templates saved in the project with versions: save, update, list, roll back, set active.

>>> from engagekit.templates import EmailTemplate, save_template, load_template
>>> v = save_template(project, "welcome", EmailTemplate(Subject="Hi"))  # doctest: +SKIP
>>> load_template(project, "welcome", version=v).subject                # doctest: +SKIP
'Hi'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from engagekit.errors import DefinitionError, NotFoundError
from engagekit.project import Project
from engagekit.templates._compile import compile_part
from engagekit.templates._models import Template, template_from_json

KIND = "template"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_name(name: str) -> str:
    """Pinpoint's rule: starts alphanumeric, then letters, digits, ``_`` or ``-``, ≤ 128."""
    if not _NAME.match(name):
        raise DefinitionError(
            f"template name {name!r} must start with a letter or digit and contain only letters, "
            "digits, '_' and '-' (at most 128 characters)",
            kind="template",
        )
    return name


def save_template(
    project: Project,
    name: str,
    template: Template,
    *,
    comment: str | None = None,
    partials: Mapping[str, str] | None = None,
) -> int:
    """Store ``template`` as the next version of ``name`` (compiled first, so a template that
    does not compile is never saved) and make it active; returns the version number.

    A template that uses partials other than its inline ones is checked with ``partials``.
    """
    check_name(name)
    for part, source in template.parts().items():
        compile_part(
            source, html=template.is_html(part), template=name, part=part, partials=partials
        )
    return project.store.save_definition(KIND, name, template.to_json(), comment=comment)


def load_template(project: Project, name: str, version: int | None = None) -> Template:
    """The active version of a template, or the pinned ``version``."""
    record = project.store.get_definition(KIND, name, version)
    return template_from_json(record.body)


def list_templates(project: Project, *, include_deleted: bool = False) -> pd.DataFrame:
    """One row per template: name, type, active and latest version, last update."""
    frame = project.store.list_definitions(KIND, include_deleted=include_deleted)
    types = [
        project.store.get_definition(KIND, n, int(v)).body.get("TemplateType")
        for n, v in zip(frame["name"], frame["latest_version"], strict=True)
    ]
    frame.insert(1, "type", pd.Series(types, index=frame.index, dtype="string"))
    return frame


def template_versions(project: Project, name: str) -> pd.DataFrame:
    """Every version of a template, oldest first, with its comment and whether it is active."""
    records = project.store.versions(KIND, name)
    return pd.DataFrame(
        {
            "version": [r.version for r in records],
            "type": pd.array([r.body.get("TemplateType") for r in records], dtype="string"),
            "created_at": [r.created_at for r in records],
            "active": [r.active for r in records],
            "comment": pd.array([r.comment for r in records], dtype="string"),
        }
    )


def set_active_template(project: Project, name: str, version: int) -> None:
    """Make ``version`` the one campaigns use when they do not pin a version."""
    project.store.set_active(KIND, name, version)


def rollback_template(project: Project, name: str, version: int | None = None) -> int:
    """Activate ``version``, or the version before the active one; returns it."""
    if version is None:
        active = project.store.get_definition(KIND, name).version
        older = [r.version for r in project.store.versions(KIND, name) if r.version < active]
        if not older:
            raise NotFoundError(KIND, name, active - 1)
        version = older[-1]
    project.store.set_active(KIND, name, version)
    return version


def delete_template(project: Project, name: str) -> None:
    """Hide a template from lists; versions pinned by past campaigns stay readable."""
    project.store.delete_definition(KIND, name)
