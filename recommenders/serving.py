"""Serving recommendations into messages, in the shape of Pinpoint's recommender configuration.

:class:`RecommenderConfiguration` is Pinpoint's ``CreateRecommenderConfiguration`` (same field
names; it extends ``engagekit.templates.RecommenderConfig``): which id the model answers for,
how many items go into a message, and which catalog column fills each ``Recommendations.*``
attribute: the column named after the attribute (``Title``), else the column its value names
(``{"Recommendations.Title": "title"}``), as engagekit's renderer resolves it. Pinpoint's Lambda
transformer (``RecommendationTransformerUri``) becomes an optional Python callable (or an
importable ``"module:function"``) that receives the frame (id, rank, item_id, one column per
attribute) and returns it changed.

:class:`ModelRecommendationProvider` implements engagekit's ``RecommendationProvider`` protocol
(``item_ids(ids, n) -> {id: [item ids]}`` plus ``catalog``), so a template's
``{{RecommendationItems.[0]}}`` and ``{{Recommendations.Title.[0]}}`` fill at render time.
Cold ids get the popularity ranking and the block is never empty: missing places are topped up
with the most popular items that are allowed (in stock, in the catalog, not excluded).

    >>> provider = ModelRecommendationProvider(model, catalog, RecommenderConfiguration(
    ...     Attributes={"Recommendations.Title": "title"}, RecommendationsPerMessage=3))
    ...     # doctest: +SKIP
    >>> provider.context(["u1"])["u1"]["Recommendations"]["Title"]          # doctest: +SKIP
    ['Star Wars (1977)', 'Fargo (1996)', 'Contact (1997)']
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from engagekit.templates.recommendations import RecommenderConfig
from recommenders._base import Recommender, _as_list
from recommenders._errors import RecommenderError
from recommenders.catalog import available_items, make_catalog
from recommenders.interactions import index_positions

IdType = Literal["PINPOINT_ENDPOINT_ID", "PINPOINT_USER_ID"]
Transformer = Callable[[pd.DataFrame], pd.DataFrame]

ITEMS_KEY = "RecommendationItems"
ATTRIBUTE_PREFIX = "Recommendations."
#: Pinpoint cuts each recommended attribute value to this many characters.
MAX_VALUE_CHARS = 100


class RecommenderConfiguration(RecommenderConfig):
    """Pinpoint's recommender configuration, with a local model instead of Amazon Personalize.

    engagekit's ``templates.RecommenderConfig`` (Pinpoint's field names and checks) plus an
    optional ``transformer`` callable in place of Pinpoint's Lambda.
    ``RecommendationProviderUri`` names the saved model (``"model://<name>"`` or
    ``"model://<name>/<version>"``) for :meth:`ModelRecommendationProvider.from_configuration`.
    ``Attributes`` fill ``Recommendations.<Name>`` from catalog column ``<Name>``, or from the
    column the value names (``{"Recommendations.Title": "title"}``).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, arbitrary_types_allowed=True
    )

    transformer: Transformer | None = Field(None, exclude=True, repr=False)

    @field_validator("transformer_uri")
    @classmethod
    def _transformer_path(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError(
                f"RecommendationTransformerUri must be 'package.module:function', got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_transformer(self) -> RecommenderConfiguration:
        if self.transformer is not None and self.transformer_uri is not None:
            raise ValueError(
                "give either transformer (a callable) or RecommendationTransformerUri, not both"
            )
        return self

    def resolve_transformer(self) -> Transformer | None:
        """The transformer callable (imported from ``RecommendationTransformerUri`` if given)."""
        if self.transformer is not None or self.transformer_uri is None:
            return self.transformer
        module, _, func = self.transformer_uri.partition(":")
        try:
            found = getattr(importlib.import_module(module), func)
        except (ImportError, AttributeError) as exc:
            raise RecommenderError(
                f"RecommendationTransformerUri {self.transformer_uri!r} cannot be imported: {exc}"
            ) from exc
        if not callable(found):
            raise RecommenderError(f"{self.transformer_uri!r} is not callable")
        return found

    def model_reference(self) -> tuple[str, int | None]:
        """``(name, version)`` of the saved model named by ``RecommendationProviderUri``."""
        m = re.match(r"^model://([^/]+)(?:/(\d+))?/?$", self.provider_uri or "")
        if not m:
            raise RecommenderError(
                f"RecommendationProviderUri must be 'model://<name>' or 'model://<name>/<version>'"
                f", got {self.provider_uri!r}"
            )
        return m.group(1), int(m.group(2)) if m.group(2) else None

    def attribute_columns(self, catalog_columns: Iterable[Any]) -> dict[str, str]:
        """Attribute name (``Title``) -> catalog column that fills it (see the module doc)."""
        columns = {str(c) for c in catalog_columns}
        out = {}
        for key, value in self.attributes.items():
            name = key[len(ATTRIBUTE_PREFIX) :]
            out[name] = name if name in columns or value not in columns else value
        return out


class ModelRecommendationProvider:
    """Recommendations for templates from a fitted model and an item catalog.

    Implements engagekit's ``RecommendationProvider``: ``item_ids(ids, n)``, ``catalog``
    (indexed by item id as text, with a column per configured attribute), ``config`` and
    ``transformer``. ``exclude`` removes items per id (e.g. bought since the model was
    trained): a mapping id -> items or a frame with ``id`` and ``item`` columns. Items out of
    stock (``in_stock`` False) or absent from the catalog are never recommended.
    ``exclude_seen`` drops items the id interacted with in training.
    """

    def __init__(
        self,
        model: Recommender,
        catalog: pd.DataFrame,
        config: RecommenderConfiguration | None = None,
        *,
        transformer: Transformer | None = None,
        exclude: Mapping[Any, Iterable[Any]] | pd.DataFrame | None = None,
        exclude_seen: bool = True,
        in_stock: str = "in_stock",
    ) -> None:
        model._check_fitted("ModelRecommendationProvider")
        if getattr(model, "model_info_", None) is not None:  # a saved model: same catalog?
            from recommenders.persistence import check_catalog

            check_catalog(model, catalog)
        self.model = model
        self.config = config or RecommenderConfiguration()
        if transformer is not None and (self.config.transformer or self.config.transformer_uri):
            raise RecommenderError(
                "the configuration already names a transformer; pass transformer= or set it in "
                "the configuration, not both"
            )
        self.transformer = transformer or self.config.resolve_transformer()
        cat = make_catalog(catalog, col_item=None, in_stock=in_stock)
        cat.index = pd.Index(cat.index.astype(str), name=cat.index.name)
        self.attribute_columns = self.config.attribute_columns(cat.columns)
        missing = sorted({c for c in self.attribute_columns.values() if c not in cat.columns})
        if missing and self.transformer is None:
            raise RecommenderError(
                f"the catalog lacks column(s) {missing} for the configured Attributes "
                f"{list(self.config.attributes)}; catalog columns: {list(cat.columns)}"
            )
        for name, column in self.attribute_columns.items():  # Title -> catalog["title"]
            if name != column and column in cat.columns and name not in cat.columns:
                cat[name] = cat[column]
        self.catalog = cat
        self.exclude_seen = exclude_seen
        self.exclude = _bans(exclude)
        allowed = available_items(cat, in_stock=in_stock)
        model_items = pd.Index(model.item_index_.astype(str))
        self._banned = ~model_items.isin(allowed)
        # fallback order: the model's popularity over allowed items, then other catalog items
        order = np.argsort(-model._popularity_scores(), kind="stable")
        ranked = list(model_items[order][~self._banned[order]])
        known = set(ranked)
        ranked += [i for i in allowed if i not in known]
        self._fallback = ranked
        if not ranked:
            raise RecommenderError(
                "no item can be recommended: the catalog has no item in stock; "
                "check the catalog's in_stock column"
            )

    @classmethod
    def from_configuration(
        cls,
        config: RecommenderConfiguration,
        source: Any,
        catalog: pd.DataFrame,
        **kwargs: Any,
    ) -> ModelRecommendationProvider:
        """Load the model named by ``RecommendationProviderUri`` (``model://name/version``) from
        ``source`` (a project or a folder, see :func:`recommenders.load_model`)."""
        from recommenders.persistence import load_model

        name, version = config.model_reference()
        model = load_model(source, name, version)  # the catalog is checked by __init__
        return cls(model, catalog, config, **kwargs)

    @classmethod
    def from_project(
        cls,
        project: Any,
        name: str,
        catalog: pd.DataFrame,
        *,
        version: int | None = None,
        **kwargs: Any,
    ) -> ModelRecommendationProvider:
        """The provider of the recommender configuration ``name`` saved in ``project``, with
        the model its ``RecommendationProviderUri`` names (saved in the same project)."""
        return cls.from_configuration(
            load_recommender(project, name, version), project, catalog, **kwargs
        )

    @property
    def id_type(self) -> IdType:
        """Which ids to pass: endpoint ids or user ids (``RecommendationProviderIdType``)."""
        return self.config.id_type

    def item_ids(self, ids: Sequence[Any], n: int | None = None) -> dict[str, list[str]]:
        """Up to ``n`` (default ``RecommendationsPerMessage``) item ids per id, best first.

        Every id gets a full block as long as the catalog holds ``n`` allowed items.
        """
        recs = self._ranked(ids, n)
        grouped = recs.groupby("id", sort=False)["item"].agg(list)
        return {str(i): grouped.get(str(i), []) for i in _as_list(ids)}

    def recommendations(self, ids: Sequence[Any], n: int | None = None) -> pd.DataFrame:
        """Tidy recommendations (id, rank, item, score, source) joined with the catalog;
        ``source`` is ``"model"`` or ``"popular"`` (cold id or a block topped up)."""
        return self._ranked(ids, n).join(self.catalog, on="item").reset_index(drop=True)

    def attribute_frame(self, ids: Sequence[Any], n: int | None = None) -> pd.DataFrame:
        """The frame templates read: id, rank (0-based), item_id and one column per attribute,
        after the transformer, values as text cut to 100 characters."""
        recs = self._ranked(ids, n)
        frame = pd.DataFrame({"id": recs["id"], "rank": recs["rank"] - 1, "item_id": recs["item"]})
        cols = self.attribute_columns
        present = {name: col for name, col in cols.items() if col in self.catalog.columns}
        looked_up = self.catalog.reindex(frame["item_id"])
        for name, col in present.items():
            frame[name] = looked_up[col].to_numpy()
        if self.transformer is not None:
            frame = self.transformer(frame.copy())
            if not isinstance(frame, pd.DataFrame) or not {"id", "item_id"} <= set(frame.columns):
                raise RecommenderError(
                    "the recommendation transformer must return a DataFrame that keeps the "
                    "'id' and 'item_id' columns"
                )
        missing = [name for name in cols if name not in frame.columns]
        if missing:
            raise RecommenderError(
                f"attribute column(s) {missing} are in neither the catalog nor the "
                "transformer's output"
            )
        for name in cols:
            values = frame[name].astype(object).where(frame[name].notna(), "")
            frame[name] = values.astype(str).str.slice(0, MAX_VALUE_CHARS)
        return frame

    def context(self, ids: Sequence[Any], n: int | None = None) -> dict[str, dict[str, Any]]:
        """Template variables per id: ``{"RecommendationItems": [...], "Recommendations":
        {"Title": [...], ...}}``, lists in rank order."""
        frame = self.attribute_frame(ids, n)
        names = list(self.attribute_columns)
        out: dict[str, dict[str, Any]] = {}
        for key, group in frame.groupby("id", sort=False):
            out[str(key)] = {
                ITEMS_KEY: group["item_id"].astype(str).tolist(),
                "Recommendations": {name: group[name].tolist() for name in names},
            }
        empty = {ITEMS_KEY: [], "Recommendations": {name: [] for name in names}}
        return {str(i): out.get(str(i), empty) for i in _as_list(ids)}

    # -- internals ------------------------------------------------------------------------------
    def _ranked(self, ids: Sequence[Any], n: int | None) -> pd.DataFrame:
        n = self.config.per_message if n is None else int(n)
        if n < 1:
            raise RecommenderError(f"n must be at least 1, got {n}")
        query = pd.Index([str(i) for i in _as_list(ids)], dtype=object)
        bans = self.exclude or None
        recs = self.model._recommend(query, n, self.exclude_seen, self._banned.copy(), bans)
        recs = recs.assign(id=recs["id"].astype(str), item=recs["item"].astype(str), source="model")
        cold = ~query.isin(pd.Index(self.model.user_index_.astype(str)))
        recs.loc[recs["id"].isin(query[cold]).to_numpy(), "source"] = "popular"
        counts = recs.groupby("id").size()
        short = [i for i in pd.unique(query) if counts.get(i, 0) < n]
        if short:
            recs = pd.concat([recs, self._top_up(recs, short, n)], ignore_index=True)
            recs = recs.sort_values(["id", "rank"], kind="stable")
            order = pd.Index(pd.unique(query)).get_indexer(recs["id"])
            recs = recs.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
        return recs

    def _top_up(self, recs: pd.DataFrame, short: list[str], n: int) -> pd.DataFrame:
        """Fill short blocks with the most popular allowed items; seen items only as a last
        resort (a user who has seen nearly the whole catalog still gets a full block)."""
        rows = []
        have = recs[recs["id"].isin(short)].groupby("id")["item"].agg(list)
        model = self.model
        positions = index_positions(model.user_index_, short)
        items_text = np.asarray(model.item_index_.astype(str), dtype=object)
        for key, pos in zip(short, positions, strict=True):
            got = list(have.get(key, []))
            skip = set(got) | set(self.exclude.get(key, ()))
            seen: set[str] = set()
            if self.exclude_seen and pos >= 0:
                row = model.user_items_[int(pos)]
                seen = set(items_text[row.indices])
            extra = [i for i in self._fallback if i not in skip and i not in seen]
            extra = extra[: n - len(got)]
            if len(got) + len(extra) < n:
                taken = skip | set(extra)
                extra += [i for i in self._fallback if i not in taken][: n - len(got) - len(extra)]
            for j, item in enumerate(extra):
                rows.append((key, len(got) + j + 1, item, np.nan, "popular"))
        return pd.DataFrame(rows, columns=["id", "rank", "item", "score", "source"])


RECOMMENDER_KIND = "recommender_configuration"


def save_recommender(project: Any, config: RecommenderConfiguration) -> int:
    """Store a named recommender configuration in the project; returns its version.

    The transformer callable is not stored (code is not data): name it with
    ``RecommendationTransformerUri`` (``"package.module:function"``) to keep it.
    """
    if not config.name:
        raise RecommenderError("a saved recommender configuration needs a Name")
    if config.transformer is not None:
        raise RecommenderError(
            "a transformer callable cannot be saved; name it with RecommendationTransformerUri "
            "('package.module:function') instead"
        )
    body = json.loads(config.model_dump_json(by_alias=True, exclude_none=True))
    return int(project.store.save_definition(RECOMMENDER_KIND, config.name, body))


def load_recommender(
    project: Any, name: str, version: int | None = None
) -> RecommenderConfiguration:
    """A saved recommender configuration (default: its active version)."""
    from engagekit.errors import NotFoundError

    try:
        record = project.store.get_definition(RECOMMENDER_KIND, name, version)
    except NotFoundError as exc:
        raise RecommenderError(f"no saved recommender configuration: {exc}") from exc
    return RecommenderConfiguration.model_validate(record.body)


def _bans(exclude: Mapping[Any, Iterable[Any]] | pd.DataFrame | None) -> dict[str, list[str]]:
    """Per-id exclusions from a mapping or a frame with (id, item) or (user_id, item_id)."""
    if exclude is None:
        return {}
    if isinstance(exclude, pd.DataFrame):
        pairs = [("id", "item"), ("user_id", "item_id"), ("endpoint_id", "item_id")]
        cols = next((p for p in pairs if set(p) <= set(exclude.columns)), None)
        if cols is None:
            raise RecommenderError(
                "exclude must have columns ('id', 'item') or ('user_id', 'item_id'), "
                f"found {list(exclude.columns)}"
            )
        grouped = exclude.groupby(exclude[cols[0]].astype(str))[cols[1]].agg(list)
        return {k: [str(i) for i in v] for k, v in grouped.items()}
    return {str(k): [str(i) for i in _as_list(v)] for k, v in exclude.items()}
