"""Endpoints: Pinpoint's endpoint data model as a pandas DataFrame, and the project's store.

One row per endpoint (an address on a channel), Pinpoint's dotted column names (``Id``,
``ChannelType``, ``Address``, ``Location.Country``, ``Attributes.plan``, ``Metrics.visits``,
``User.UserId``, ``User.UserAttributes.FirstName``...). Custom attributes are lists of strings.

    >>> import pandas as pd
    >>> from engagekit.endpoints import normalize_endpoints
    >>> df = normalize_endpoints(pd.DataFrame({"Id": ["e1"], "ChannelType": ["EMAIL"],
    ...     "Address": ["ada@example.com"], "Attributes.plan": ["pro"]}))
    >>> df["Attributes.plan"].iloc[0]
    ['pro']

The store keeps one snapshot per project (``store/endpoints.parquet``):
:func:`read_endpoints`, :func:`write_endpoints`, :func:`import_endpoints` (CSV / NDJSON, local
or S3, Pinpoint's import semantics and validation, a rejects file), :func:`export_endpoints`,
:func:`delete_user`, and :func:`import_jobs` (every import, as Pinpoint's GetImportJobs).

Modules: ``_schema`` (columns, dtypes), ``_readers`` (files, folders, S3; CSV and NDJSON to raw
Arrow tables), ``_rules`` / ``_phones`` / ``_validate`` (field rules, vectorized), ``_merge``
(Pinpoint's semantics, pure), ``_store`` (snapshot, import, rejects, job log), ``_export``,
``_frame`` (Arrow <-> pandas).
"""

from engagekit.endpoints._export import ExportReport, export_endpoints
from engagekit.endpoints._merge import generated_ids, merge_snapshot
from engagekit.endpoints._schema import *  # noqa: F403
from engagekit.endpoints._schema import __all__ as _schema_all
from engagekit.endpoints._store import (
    EndpointFrameError,
    ImportReport,
    delete_user,
    import_endpoints,
    import_jobs,
    read_endpoints,
    read_rejects,
    write_endpoints,
)

__all__ = [
    *_schema_all,
    "EndpointFrameError",
    "ExportReport",
    "ImportReport",
    "delete_user",
    "export_endpoints",
    "generated_ids",
    "import_endpoints",
    "import_jobs",
    "merge_snapshot",
    "read_endpoints",
    "read_rejects",
    "write_endpoints",
]
