"""engagekit: a notebook-native customer-engagement workbench in Amazon Pinpoint's vocabulary."""

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
]
