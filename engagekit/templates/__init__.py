"""Message templates: Pinpoint's Handlebars dialect on pybars3, for every channel.

    >>> from engagekit.templates import EmailTemplate, render
    >>> t = EmailTemplate(Subject="Hi {{capitalize User.UserAttributes.FirstName}}",
    ...                   HtmlPart="<p>{{Attributes.plan}}</p>")
    >>> render(t, {"User.UserAttributes.FirstName": ["ada"]}, part="Subject")
    'Hi Ada'

Models (``EmailTemplate``, ``SMSTemplate``, ``PushTemplate``, ``VoiceTemplate``,
``InAppTemplate``, ``CustomTemplate``) round-trip Pinpoint's JSON; ``render`` renders one part,
``render_batch`` a whole plan, ``validate`` checks a template against endpoints before a send,
``preview`` shows a message in a notebook; ``save_template``/``load_template`` keep versions in
the project.
"""

from engagekit.templates import helpers
from engagekit.templates._batch import ERROR_COLUMN, iter_render_batch, render_batch
from engagekit.templates._compile import HBList, register_helper
from engagekit.templates._context import endpoint_context
from engagekit.templates._inspect import Preview, ValidationReport, preview, validate
from engagekit.templates._models import (
    TEMPLATE_TYPES,
    CustomTemplate,
    EmailTemplate,
    InAppTemplate,
    MessageHeader,
    PushPlatform,
    PushTemplate,
    SMSTemplate,
    Template,
    VoiceTemplate,
    template_from_json,
    template_from_pinpoint,
)
from engagekit.templates._render import render, render_message
from engagekit.templates.limits import DEFAULT_LIMITS, ChannelLimits, SmsInfo, sms_segments
from engagekit.templates.recommendations import (
    CatalogRecommendationProvider,
    RecommendationProvider,
    RecommenderConfig,
    recommendation_columns,
)
from engagekit.templates.store import (
    delete_template,
    list_templates,
    load_template,
    rollback_template,
    save_template,
    set_active_template,
    template_versions,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ERROR_COLUMN",
    "TEMPLATE_TYPES",
    "CatalogRecommendationProvider",
    "ChannelLimits",
    "CustomTemplate",
    "EmailTemplate",
    "HBList",
    "InAppTemplate",
    "MessageHeader",
    "Preview",
    "PushPlatform",
    "PushTemplate",
    "RecommendationProvider",
    "RecommenderConfig",
    "SMSTemplate",
    "SmsInfo",
    "Template",
    "ValidationReport",
    "VoiceTemplate",
    "delete_template",
    "endpoint_context",
    "helpers",
    "iter_render_batch",
    "list_templates",
    "load_template",
    "preview",
    "recommendation_columns",
    "register_helper",
    "render",
    "render_batch",
    "render_message",
    "rollback_template",
    "save_template",
    "set_active_template",
    "sms_segments",
    "template_from_json",
    "template_from_pinpoint",
    "template_versions",
    "validate",
]
