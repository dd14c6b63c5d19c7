"""engagekit: a notebook-native customer-engagement workbench in Amazon Pinpoint's vocabulary.

    >>> import engagekit as ek
    >>> project = ek.Project.create("acme")                          # doctest: +SKIP
    >>> ek.import_endpoints(project, "data/sample_endpoints.csv")     # doctest: +SKIP

The names below are the public face; each area is also a module (``engagekit.segments``,
``engagekit.templates``, ``engagekit.campaigns``, ...). Heavy modules load on first use, so
``import engagekit`` stays fast for the command line.
"""

import importlib as _importlib

from engagekit.errors import (
    ChannelError,
    DefinitionError,
    DeliveryError,
    EngagekitError,
    ImportFileError,
    NotFoundError,
    ProjectError,
    StoreVersionError,
    TemplateError,
)
from engagekit.project import Project, ProjectSettings

__version__ = "0.1.0"

#: public name -> module that defines it (imported lazily on first attribute access)
_LAZY: dict[str, str] = {
    # endpoints
    "import_endpoints": "engagekit.endpoints",
    "export_endpoints": "engagekit.endpoints",
    "read_endpoints": "engagekit.endpoints",
    "write_endpoints": "engagekit.endpoints",
    "delete_user": "engagekit.endpoints",
    "generate_endpoints": "engagekit.sample",
    # segments
    "Segment": "engagekit.segments",
    "segment": "engagekit.segments",
    "evaluate": "engagekit.segments",
    "estimate": "engagekit.segments",
    # templates
    "EmailTemplate": "engagekit.templates",
    "SMSTemplate": "engagekit.templates",
    "PushTemplate": "engagekit.templates",
    "VoiceTemplate": "engagekit.templates",
    "InAppTemplate": "engagekit.templates",
    "CustomTemplate": "engagekit.templates",
    "render": "engagekit.templates",
    "render_batch": "engagekit.templates",
    "preview": "engagekit.templates",
    # campaigns
    "Campaign": "engagekit.campaigns",
    "plan_campaign": "engagekit.campaigns",
    "plan_run": "engagekit.campaigns",
    # delivery
    "deliver": "engagekit.delivery",
    # events, analytics, statistics
    "append_events": "engagekit.events",
    "read_events": "engagekit.events",
    "analyze": "engagekit.stats",
    "srm": "engagekit.stats",
    "plan_sample_size": "engagekit.stats",
    "plan_mde": "engagekit.stats",
    # jobs and reports
    "run_campaign": "engagekit.jobs",
    "run_due": "engagekit.jobs",
    "render_report": "engagekit.jobs",
}

__all__ = [
    "ChannelError",
    "DefinitionError",
    "DeliveryError",
    "EngagekitError",
    "ImportFileError",
    "NotFoundError",
    "Project",
    "ProjectError",
    "ProjectSettings",
    "StoreVersionError",
    "TemplateError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engagekit' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
