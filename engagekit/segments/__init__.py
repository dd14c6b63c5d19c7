"""Segments: who is in an audience, in Pinpoint's SegmentDimensions / SegmentGroupList shapes.

Declare a segment with the fluent builder (or from Pinpoint JSON), evaluate it over an endpoint
DataFrame, estimate its reach, save it in the project, or compile it to SQL for DuckDB:

    >>> from engagekit.sample import generate_endpoints
    >>> from engagekit.segments import segment, evaluate, estimate
    >>> df = generate_endpoints(2_000, seed=3)
    >>> berlin = segment("berlin-email").channel("EMAIL").city("Berlin").build()
    >>> bool(evaluate(berlin, df).sum() == estimate(berlin, df).total)
    True

Declaring and executing are apart:

``_model``     the pydantic declaration (Pinpoint names as aliases; DefinitionError with paths)
``_builder``   the fluent builder for notebooks
``_plan``      a segment compiled to a boolean expression tree both engines execute
``_evaluate``  the pandas / pyarrow engine: evaluate, estimate, funnel, members, export
``_sql``       the same tree as DuckDB SQL (``to_sql``)
``_store``     saved, versioned segments in the project; base segments and cycles
``_pinpoint``  Pinpoint JSON in and out, validated against botocore's model
``_imported``  imported (static) segments from endpoint files, local or S3

Missing values never match a criterion (a NULL country is not "DE", a NaN metric is not
"> 0"), so EXCLUSIVE, NOT_BETWEEN, INACTIVE and NONE keep them, in pandas and in SQL alike.
"""

from engagekit.segments._builder import SegmentBuilder, builder_from, segment
from engagekit.segments._evaluate import (
    Estimate,
    compile_segment,
    estimate,
    evaluate,
    export_members,
    funnel,
    members,
)
from engagekit.segments._imported import import_segment, read_member_ids, reimport_segment
from engagekit.segments._model import (
    AttributeDimension,
    GPSCoordinates,
    GPSPointDimension,
    ImportDefinition,
    MetricDimension,
    RecencyDimension,
    Segment,
    SegmentBehaviors,
    SegmentDemographics,
    SegmentDimensions,
    SegmentGroup,
    SegmentGroupList,
    SegmentLocation,
    SegmentReference,
    SetDimension,
)
from engagekit.segments._pinpoint import from_pinpoint, pinpoint_problems, to_pinpoint
from engagekit.segments._sql import to_sql, where_sql
from engagekit.segments._store import (
    copy_segment,
    delete_segment,
    list_segments,
    load_segment,
    save_segment,
    segment_versions,
)

__all__ = [
    "AttributeDimension",
    "Estimate",
    "GPSCoordinates",
    "GPSPointDimension",
    "ImportDefinition",
    "MetricDimension",
    "RecencyDimension",
    "Segment",
    "SegmentBehaviors",
    "SegmentBuilder",
    "SegmentDemographics",
    "SegmentDimensions",
    "SegmentGroup",
    "SegmentGroupList",
    "SegmentLocation",
    "SegmentReference",
    "SetDimension",
    "builder_from",
    "compile_segment",
    "copy_segment",
    "delete_segment",
    "estimate",
    "evaluate",
    "export_members",
    "from_pinpoint",
    "funnel",
    "import_segment",
    "list_segments",
    "load_segment",
    "members",
    "pinpoint_problems",
    "read_member_ids",
    "reimport_segment",
    "save_segment",
    "segment",
    "segment_versions",
    "to_pinpoint",
    "to_sql",
    "where_sql",
]
