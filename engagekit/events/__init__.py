"""Events: Pinpoint's event stream kept as an append-only Parquet lake, queried with DuckDB.

    >>> from engagekit.events import append_events, read_events, lake
    >>> report = append_events(project, [{"event_type": "_session.start",     # doctest: +SKIP
    ...     "event_timestamp": 1700000000000, "endpoint_id": "ep-1", "user_id": "u-1"}])
    >>> lake(project).sql("SELECT count(*) FROM events").fetchone()           # doctest: +SKIP
    (1,)

The model (``Event``, Pinpoint's JSON), the flat lake columns (``LAKE_SCHEMA``) and the mapping
between them live in ``_schema``; appends, validation and partitions in ``_lake``; readers in
``_query``; file and S3 ingest in ``_ingest``; retention and erasure in ``_retention``; stream
export (S3, Kinesis Data Streams, Firehose) in ``_stream``; the event generator in ``_generate``.
"""

from engagekit.events._generate import (
    generate_campaign_events,
    generate_events,
    generate_plan,
    iter_events,
)
from engagekit.events._ingest import ingest
from engagekit.events._lake import (
    REJECT_REASONS,
    CompactReport,
    IngestReport,
    append_events,
    compact,
    lake_files,
    list_partitions,
    partition_of,
    put_events,
)
from engagekit.events._query import connect, events_source, lake, read_events
from engagekit.events._retention import (
    ErasureReport,
    RetentionReport,
    delete_user_events,
    expire_events,
    export_partitions,
)
from engagekit.events._schema import (
    COLUMNS,
    LAKE_SCHEMA,
    STANDARD_EVENT_TYPES,
    Event,
    from_put_events,
    to_pinpoint,
    to_row,
)
from engagekit.events._stream import (
    StreamExportError,
    StreamReport,
    dedupe_events,
    export_stream,
    put_firehose,
    put_kinesis,
    read_kinesis,
)

__all__ = [
    "COLUMNS",
    "LAKE_SCHEMA",
    "REJECT_REASONS",
    "STANDARD_EVENT_TYPES",
    "CompactReport",
    "ErasureReport",
    "Event",
    "IngestReport",
    "RetentionReport",
    "StreamExportError",
    "StreamReport",
    "append_events",
    "compact",
    "connect",
    "dedupe_events",
    "delete_user_events",
    "events_source",
    "expire_events",
    "export_partitions",
    "export_stream",
    "from_put_events",
    "generate_campaign_events",
    "generate_events",
    "generate_plan",
    "ingest",
    "iter_events",
    "lake",
    "lake_files",
    "list_partitions",
    "partition_of",
    "put_events",
    "put_firehose",
    "put_kinesis",
    "read_events",
    "read_kinesis",
    "to_pinpoint",
    "to_row",
]
