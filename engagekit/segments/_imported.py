"""Imported (static) segments: membership fixed from an endpoint file, refinable, reimportable.

The file is a Pinpoint endpoint file (CSV with a header, or NDJSON), local or ``s3://``. Members
are its ``Id`` values; rows without an ``Id`` are matched by the id engagekit's endpoint import
derives from ``ChannelType`` and ``Address``.

    >>> from engagekit.segments import segment
    >>> seg = import_segment("webinar", "s3://bucket/webinar.csv")  # doctest: +SKIP
    >>> emails = segment("x").channel("EMAIL")
    >>> seg = import_segment("webinar", "webinar.csv", refine=emails)  # doctest: +SKIP
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from engagekit.errors import DefinitionError, ImportFileError
from engagekit.segments._builder import SegmentBuilder
from engagekit.segments._model import Segment, SegmentDimensions

if TYPE_CHECKING:
    from engagekit.project import Project

_JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")


def import_segment(
    name: str,
    source: str | Path,
    *,
    format: str | None = None,
    refine: SegmentBuilder | Segment | SegmentDimensions | dict[str, Any] | None = None,
    description: str | None = None,
) -> Segment:
    """An imported segment whose members are the endpoints listed in ``source``.

    ``refine`` narrows the members with dimensions (a builder, a segment or SegmentDimensions).
    """
    url = str(source)
    fmt = _format(url, format)
    ids = read_member_ids(url, fmt)
    body: dict[str, Any] = {
        "Name": name,
        "ImportDefinition": {
            "S3Url": url,
            "Format": fmt,
            "EndpointIds": ids,
            "Size": len(ids),
            "ImportedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    if description:
        body["Description"] = description
    body.update(_refinement(refine))
    return Segment.model_validate(body)


def reimport_segment(project: Project, name: str) -> int:
    """Read an imported segment's file again (same location) and save the result as a new
    version, keeping its refinements; returns the new version."""
    from engagekit.segments._store import load_segment, save_segment

    current = load_segment(project, name)
    imp = current.import_definition
    if imp is None:
        raise DefinitionError(
            f"segment {name!r} is dynamic, not imported; only imported segments reimport",
            path="ImportDefinition",
            kind="segment",
        )
    ids = read_member_ids(imp.url, imp.format)
    fresh = imp.model_copy(
        update={
            "endpoint_ids": tuple(ids),
            "size": len(ids),
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    return save_segment(
        project,
        current.model_copy(update={"import_definition": fresh}),
        comment=f"reimported from {imp.url}",
    )


def _refinement(refine: Any) -> dict[str, Any]:
    if refine is None:
        return {}
    if isinstance(refine, SegmentBuilder):
        refine = refine.build()
    if isinstance(refine, Segment):
        doc = refine.to_dict()
        return {k: doc[k] for k in ("Dimensions", "SegmentGroups") if k in doc}
    if isinstance(refine, SegmentDimensions):
        return {"Dimensions": refine.model_dump(mode="json", exclude_none=True)}
    return {"Dimensions": dict(refine)}


def _format(url: str, format: str | None) -> str:
    if format is not None:
        fmt = format.upper()
        fmt = "JSON" if fmt in ("NDJSON", "JSONL") else fmt
        if fmt not in ("CSV", "JSON"):
            raise ImportFileError(url, f"format {format!r}: expected CSV or JSON (NDJSON)")
        return fmt
    return "JSON" if url.lower().endswith(_JSON_SUFFIXES) else "CSV"


def _read_bytes(url: str) -> bytes:
    if url.startswith("s3://"):
        import boto3
        from botocore.exceptions import ClientError

        bucket, _, key = url[len("s3://") :].partition("/")
        try:
            return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise ImportFileError(url, f"cannot read the S3 object: {exc}") from exc
    path = Path(url)
    if not path.is_file():
        raise ImportFileError(url, "no such file")
    return path.read_bytes()


def read_member_ids(url: str, fmt: str) -> list[str]:
    """The endpoint ids an endpoint file lists (unique, in file order)."""
    data = _read_bytes(url)
    if not data.strip():
        raise ImportFileError(url, "the file is empty; expected endpoints with an Id column")
    try:
        if fmt == "CSV":
            frame = pd.read_csv(io.BytesIO(data), dtype="string", keep_default_na=False)
        else:
            frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    except ValueError as exc:
        raise ImportFileError(url, f"not a readable {fmt} endpoint file: {exc}") from exc
    ids = (
        frame["Id"].astype("string").str.strip().replace("", pd.NA)
        if "Id" in frame.columns
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    if ids.isna().any():
        if not {"ChannelType", "Address"} <= set(frame.columns):
            raise ImportFileError(
                url, "rows need an Id, or ChannelType and Address to derive it; none found"
            )
        from engagekit.endpoints import generated_ids

        missing = ids.isna().to_numpy()
        derived = generated_ids(
            pa.array(frame.loc[missing, "ChannelType"].astype("string"), type=pa.string()),
            pa.array(frame.loc[missing, "Address"].astype("string"), type=pa.string()),
        )
        ids = ids.copy()
        ids[missing] = derived.to_pylist()
    return list(dict.fromkeys(ids.dropna().tolist()))
