"""Recommendation attributes for templates, as Pinpoint's recommender configuration defines them.

A provider returns item ids per user or endpoint; the recommender configuration says how many per
message (1–5), which id to use, and which catalog attributes templates see:
``{{RecommendationItems.[0]}}`` (item ids) and ``{{Recommendations.Title.[0]}}`` (catalog
values, capped at 100 characters). An optional transformer callable takes the place of
Pinpoint's Lambda function.

    >>> import pandas as pd
    >>> catalog = pd.DataFrame({"Title": ["Toy Story", "Heat"]}, index=["1", "2"])
    >>> provider = CatalogRecommendationProvider(catalog, {"e1": ["2", "1"]})
    >>> provider.item_ids(["e1", "e9"], 1)
    {'e1': ['2'], 'e9': ['1']}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engagekit.endpoints import LIST_DTYPE
from engagekit.errors import DefinitionError

MAX_VALUE_CHARS = 100
ITEMS_COLUMN = "RecommendationItems"
ATTRIBUTE_PREFIX = "Recommendations."

#: (frame with id, rank, item_id and attribute columns) -> frame of the same shape
Transformer = Callable[[pd.DataFrame], pd.DataFrame]


@runtime_checkable
class RecommendationProvider(Protocol):
    """Anything that recommends item ids; ``catalog`` (indexed by item id) maps attributes."""

    catalog: pd.DataFrame | None

    def item_ids(self, ids: Sequence[str], n: int) -> dict[str, list[str]]:
        """Up to ``n`` item ids for each user or endpoint id, best first."""
        ...


class RecommenderConfig(BaseModel):
    """Pinpoint's recommender configuration (CreateRecommenderConfiguration shape)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str | None = Field(None, alias="Name")
    description: str | None = Field(None, alias="Description")
    id_type: Literal["PINPOINT_ENDPOINT_ID", "PINPOINT_USER_ID"] = Field(
        "PINPOINT_ENDPOINT_ID", alias="RecommendationProviderIdType"
    )
    per_message: int = Field(5, alias="RecommendationsPerMessage", ge=1, le=5)
    attributes: dict[str, str] = Field(default_factory=dict, alias="Attributes")
    display_name: str | None = Field(None, alias="RecommendationsDisplayName")
    provider_uri: str | None = Field(None, alias="RecommendationProviderUri")
    role_arn: str | None = Field(None, alias="RecommendationProviderRoleArn")
    transformer_uri: str | None = Field(None, alias="RecommendationTransformerUri")

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 10:
            raise ValueError(f"at most 10 recommendation attributes, got {len(value)}")
        for key in value:
            name = key[len(ATTRIBUTE_PREFIX) :]
            if not key.startswith(ATTRIBUTE_PREFIX) or not name.replace("_", "").isalnum():
                raise ValueError(
                    f"attribute {key!r} must look like 'Recommendations.Title' (letters, digits "
                    "and underscores after 'Recommendations.')"
                )
        return value

    def to_pinpoint(self) -> dict[str, Any]:
        """Pinpoint's CreateRecommenderConfiguration document (needs provider URI and role)."""
        from engagekit import pinpoint

        doc = self.model_dump(by_alias=True, exclude_none=True)
        if not doc.get("Attributes"):
            doc.pop("Attributes", None)
        found = pinpoint.problems("CreateRecommenderConfiguration", doc)
        if found:
            raise DefinitionError("; ".join(found), kind="RecommenderConfig")
        return doc


class CatalogRecommendationProvider:
    """Item ids from a table of picks (or a callable), falling back to the catalog's best items.

    ``recommendations`` is a mapping id -> item ids, a DataFrame with ``id`` and ``item_id``
    columns (and optional ``rank``), or a callable ``(ids, n) -> mapping``. Ids it does not know
    get ``default`` (item ids), else the first ``n`` catalog items by its ``popularity`` column
    when present, else in catalog order.
    """

    def __init__(
        self,
        catalog: pd.DataFrame,
        recommendations: Mapping[str, Sequence[str]]
        | pd.DataFrame
        | Callable[[Sequence[str], int], Mapping[str, Sequence[str]]]
        | None = None,
        *,
        default: Sequence[str] | None = None,
        config: RecommenderConfig | None = None,
        transformer: Transformer | None = None,
    ) -> None:
        self.catalog = catalog.copy()
        self.catalog.index = self.catalog.index.astype(str)
        self.recommendations = recommendations
        self.config = config or RecommenderConfig.model_validate({})
        self.transformer = transformer
        if default is not None:
            self.default = [str(i) for i in default]
        elif "popularity" in catalog.columns:
            order = self.catalog["popularity"].sort_values(ascending=False, kind="stable")
            self.default = list(order.index[:5])
        else:
            self.default = list(self.catalog.index[:5])
        self._table: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        if self._table is None:
            recs = self.recommendations
            if isinstance(recs, pd.DataFrame):
                frame = recs.sort_values("rank", kind="stable") if "rank" in recs else recs
                grouped = frame.groupby(frame["id"].astype(str), sort=False)["item_id"]
                self._table = {k: [str(x) for x in v] for k, v in grouped}
            elif isinstance(recs, Mapping):
                self._table = {str(k): [str(x) for x in v] for k, v in recs.items()}
            else:
                self._table = {}
        return self._table

    def item_ids(self, ids: Sequence[str], n: int) -> dict[str, list[str]]:
        if callable(self.recommendations) and not isinstance(
            self.recommendations, (pd.DataFrame, Mapping)
        ):
            got = self.recommendations(ids, n)
            return {str(i): [str(x) for x in got.get(i, self.default)][:n] for i in ids}
        table = self._lookup()
        return {str(i): table.get(str(i), self.default)[:n] for i in ids}


def recommendation_columns(
    provider: RecommendationProvider,
    ids: Sequence[str],
    config: RecommenderConfig | None = None,
    *,
    transformer: Transformer | None = None,
) -> pd.DataFrame:
    """One row per distinct id: ``RecommendationItems`` and ``Recommendations.<Attr>`` lists.

    Attribute values come from ``provider.catalog`` (the column after ``Recommendations.``),
    pass through ``transformer`` when given, and are cut to 100 characters.
    """
    config = config or getattr(provider, "config", None) or RecommenderConfig.model_validate({})
    transformer = transformer or getattr(provider, "transformer", None)
    unique = list(dict.fromkeys(str(i) for i in ids if i is not None and i is not pd.NA))
    picks = provider.item_ids(unique, config.per_message)
    lists = [picks.get(key, [])[: config.per_message] for key in unique]
    lengths = np.fromiter(map(len, lists), np.int64, len(lists))
    starts = np.cumsum(lengths) - lengths
    items = [str(x) for x in chain.from_iterable(lists)]
    frame = pd.DataFrame(
        {
            "id": np.repeat(np.array(unique, dtype=object), lengths),
            "rank": np.arange(len(items)) - np.repeat(starts, lengths),
            "item_id": pd.array(items, dtype="string"),
        }
    )
    catalog = getattr(provider, "catalog", None)
    if catalog is not None:
        # attribute name -> catalog column: the name after "Recommendations.", else the
        # attribute's display name (Pinpoint's map value) when the catalog has that column
        columns: dict[str, str] = {}
        for key, display in config.attributes.items():
            name = key[len(ATTRIBUTE_PREFIX) :]
            column = name if name in catalog.columns else display
            if column not in catalog.columns:
                raise DefinitionError(
                    f"the catalog has no column {name!r} (or {display!r}) for attribute {key!r}; "
                    "catalog columns: " + ", ".join(map(str, catalog.columns)),
                    kind="RecommenderConfig",
                )
            columns[name] = column
        if not columns:
            columns = {str(c): c for c in catalog.columns if c != "popularity"}
        attrs = catalog.reindex(frame["item_id"])[list(columns.values())].reset_index(drop=True)
        attrs.columns = list(columns)
        frame = pd.concat([frame, attrs], axis=1)
    if transformer is not None:
        frame = transformer(frame.copy())
        if not {"id", "item_id"} <= set(frame.columns):
            raise DefinitionError(
                "the recommendation transformer must return the frame with its "
                "'id' and 'item_id' columns",
                kind="RecommenderConfig",
            )
    out: dict[str, Any] = {}
    index = pd.Index(unique, name="id")
    for col in ["item_id", *[c for c in frame.columns if c not in ("id", "rank", "item_id")]]:
        values = frame[col].astype("string").str.slice(0, MAX_VALUE_CHARS)
        target = ITEMS_COLUMN if col == "item_id" else ATTRIBUTE_PREFIX + str(col)
        out[target] = _lists(frame["id"], values, index)
    return pd.DataFrame(out, index=index)


def _lists(ids: pd.Series, values: pd.Series, index: pd.Index) -> pd.Series:
    codes = index.get_indexer(ids)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(index)) if len(codes) else np.zeros(len(index), int)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    flat = pa.array(values.to_numpy(dtype=object)[order], type=pa.string(), from_pandas=True)
    arr = pa.ListArray.from_arrays(pa.array(offsets), flat)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index, dtype=LIST_DTYPE)
