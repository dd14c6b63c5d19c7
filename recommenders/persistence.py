"""Save and load fitted models safely: numpy ``.npz`` arrays plus JSON metadata, never pickle.

A saved model has a name and a version (1, 2, …), its training window, metrics, parameters and
the fingerprint of the catalog it was trained with, so a scheduled campaign can pin
``load_model(project, "movies", version=3)`` and keep using the same model. Loading with a
catalog whose item set differs warns with :class:`CatalogMismatchWarning`.

In a project the metadata is a versioned definition (kind ``"recommender_model"``, so
``store.versions`` / ``store.set_active`` roll models back and forward) and the arrays live in
``store/models/<name>/v<version>.npz``. In a plain folder both live in ``<folder>/<name>/``.

    >>> info = save_model(model, project, "movies", metrics={"ndcg@10": 0.41})  # doctest: +SKIP
    >>> model = load_model(project, "movies", version=info.version)             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommenders._base import Recommender
from recommenders._errors import CatalogMismatchWarning, NotFittedError, RecommenderError
from recommenders.als import ALSRecommender
from recommenders.catalog import catalog_fingerprint
from recommenders.ease import EASERecommender
from recommenders.knn import ItemKNNRecommender
from recommenders.popularity import PopularityRecommender

FORMAT_VERSION = 1
DEFINITION_KIND = "recommender_model"
MODEL_CLASSES: dict[str, type[Recommender]] = {
    cls.__name__: cls
    for cls in (PopularityRecommender, ItemKNNRecommender, ALSRecommender, EASERecommender)
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a saved model version (its JSON metadata)."""

    name: str
    version: int
    model_class: str
    params: dict[str, Any]
    training_window: tuple[str | None, str | None]
    n_interactions: int
    n_users: int
    n_items: int
    metrics: dict[str, float]
    catalog_fingerprint: str
    created_at: str
    file: str
    sha256: str
    comment: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    catalog_items: int = 0

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["training_window"] = list(self.training_window)
        body["format"] = FORMAT_VERSION
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ModelInfo:
        if body.get("format", 1) > FORMAT_VERSION:
            raise RecommenderError(
                f"model {body.get('name')!r} v{body.get('version')} was saved in format "
                f"{body['format']}, newer than this engagekit reads ({FORMAT_VERSION}); upgrade"
            )
        data = {k: v for k, v in body.items() if k != "format"}
        data["training_window"] = tuple(data.get("training_window") or (None, None))
        return cls(**data)


def _is_project(target: Any) -> bool:
    return hasattr(target, "store") and hasattr(target.store, "save_definition")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise RecommenderError(
            f"model name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '-' or '.' (at most 100 characters)"
        )


def save_model(
    model: Recommender,
    target: Any,
    name: str,
    *,
    metrics: dict[str, float] | None = None,
    catalog: pd.DataFrame | None = None,
    comment: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelInfo:
    """Save a fitted model as the next version of ``name`` in a project or a folder.

    ``catalog`` (the catalog the model serves) is fingerprinted; without it the fingerprint
    is that of the model's training items. ``metrics`` are the offline scores to remember.
    """
    if not isinstance(model, Recommender) or type(model).__name__ not in MODEL_CLASSES:
        raise RecommenderError(
            f"save_model() saves {', '.join(MODEL_CLASSES)}; got {type(model).__name__}"
        )
    if not model.is_fitted:
        raise NotFittedError(type(model).__name__, "save_model")
    _check_name(name)
    arrays = _model_arrays(model)
    start, end = model.training_window_
    info_fields: dict[str, Any] = {
        "name": name,
        "model_class": type(model).__name__,
        "params": model.get_params(),
        "training_window": (
            None if start is None else pd.Timestamp(start).isoformat(),
            None if end is None else pd.Timestamp(end).isoformat(),
        ),
        "n_interactions": model.n_interactions_,
        "n_users": model.n_users_,
        "n_items": model.n_items_,
        "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
        "catalog_fingerprint": catalog_fingerprint(
            catalog if catalog is not None else model.item_index_
        ),
        "catalog_items": len(catalog) if catalog is not None else model.n_items_,
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "comment": comment,
        "extra": dict(extra or {}),
    }
    if _is_project(target):
        store = target.store
        folder = Path(store.root) / "models" / name
        folder.mkdir(parents=True, exist_ok=True)
        with store.lock("models"):
            tmp = folder / f".v-new.{os.getpid()}.npz"
            digest = _write_npz(tmp, arrays)
            version = _next_version_project(store, name)
            file = f"v{version}.npz"
            info = ModelInfo(version=version, file=file, sha256=digest, **info_fields)
            os.replace(tmp, folder / file)
            saved = store.save_definition(DEFINITION_KIND, name, info.to_json(), comment=comment)
            if saved != version:  # another writer slipped in without the lock
                raise RecommenderError(f"model {name!r}: version race ({saved} != {version})")
        return info
    folder = Path(target) / name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".v-new.{os.getpid()}.npz"
    digest = _write_npz(tmp, arrays)
    version = max(_folder_versions(folder), default=0) + 1
    info = ModelInfo(version=version, file=f"v{version}.npz", sha256=digest, **info_fields)
    meta_tmp = folder / f".v{version}.json.tmp"
    meta_tmp.write_text(json.dumps(info.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / info.file)
    os.replace(meta_tmp, folder / f"v{version}.json")
    return info


def load_model(
    source: Any,
    name: str,
    version: int | None = None,
    *,
    catalog: pd.DataFrame | None = None,
) -> Recommender:
    """Load version ``version`` (default: the active one in a project, the latest in a folder).

    With ``catalog``, warn (:class:`CatalogMismatchWarning`) when its item set differs from the
    one the model was saved with. The model's metadata is in ``model.model_info_``.
    """
    _check_name(name)
    info, path = model_info(source, name, version), None
    if _is_project(source):
        path = Path(source.store.root) / "models" / name / info.file
    else:
        path = Path(source) / name / info.file
    if not path.exists():
        raise RecommenderError(f"model {name!r} v{info.version}: array file {path} is missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise RecommenderError(
            f"model {name!r} v{info.version}: {path} does not match its recorded checksum "
            "(the file was changed or truncated); save the model again"
        )
    cls = MODEL_CLASSES.get(info.model_class)
    if cls is None:
        raise RecommenderError(
            f"model {name!r} is a {info.model_class}, which this engagekit cannot load; "
            f"known: {', '.join(MODEL_CLASSES)}"
        )
    model = cls(**info.params)
    with np.load(path, allow_pickle=False) as arrays:
        _restore(model, {k: arrays[k] for k in arrays.files})
    start, end = (None if t is None else pd.Timestamp(t) for t in info.training_window)
    model.training_window_ = (start, end)
    model.n_interactions_ = info.n_interactions
    model.model_info_ = info
    if catalog is not None:
        check_catalog(model, catalog)
    return model


def check_catalog(model: Recommender, catalog: pd.DataFrame) -> bool:
    """Warn when ``catalog`` is not the catalog the loaded model was saved with; True if same."""
    info: ModelInfo | None = getattr(model, "model_info_", None)
    expected = info.catalog_fingerprint if info else catalog_fingerprint(model.item_index_)
    found = catalog_fingerprint(catalog)
    if found == expected:
        return True
    model_items = pd.Index(model.item_index_.astype(str))
    cat_items = pd.Index(catalog.index.astype(str))
    gone = int((~model_items.isin(cat_items)).sum())
    new = int((~cat_items.isin(model_items)).sum())
    what = f"model {info.name!r} v{info.version}" if info else "this model"
    saved = f" ({info.catalog_items} items)" if info and info.catalog_items else ""
    warnings.warn(
        f"{what} was saved with catalog {expected}{saved} but this catalog is {found} "
        f"({len(cat_items)} items): {gone} of the model's {len(model_items)} items are not in "
        f"it (they will not be recommended) and {new} of its items are unknown to the model "
        "(only the popularity fallback can pick them). Retrain and save the model on the "
        "current catalog, or load the catalog version it was trained with.",
        CatalogMismatchWarning,
        stacklevel=2,
    )
    return False


def model_info(source: Any, name: str, version: int | None = None) -> ModelInfo:
    """The metadata of one saved version (default: active in a project, latest in a folder)."""
    _check_name(name)
    if _is_project(source):
        from engagekit.errors import NotFoundError

        try:
            record = source.store.get_definition(DEFINITION_KIND, name, version)
        except NotFoundError as exc:
            raise RecommenderError(f"no saved model {name!r}: {exc}") from exc
        return ModelInfo.from_json(record.body)
    folder = Path(source) / name
    versions = _folder_versions(folder)
    if not versions:
        known = (
            sorted(p.name for p in Path(source).iterdir() if p.is_dir())
            if Path(source).is_dir()
            else []
        )
        raise RecommenderError(
            f"no saved model {name!r} in {source}"
            + (f"; known: {', '.join(known)}" if known else "")
        )
    wanted = max(versions) if version is None else int(version)
    if wanted not in versions:
        raise RecommenderError(
            f"model {name!r} has no version {wanted}; saved versions: "
            + ", ".join(map(str, sorted(versions)))
        )
    body = json.loads((folder / f"v{wanted}.json").read_text(encoding="utf-8"))
    return ModelInfo.from_json(body)


def list_models(source: Any) -> pd.DataFrame:
    """Every saved model version: name, version, class, training window, metrics, created_at."""
    infos: list[ModelInfo] = []
    if _is_project(source):
        for name in source.store.names(DEFINITION_KIND):
            infos += [
                ModelInfo.from_json(r.body) for r in source.store.versions(DEFINITION_KIND, name)
            ]
    elif Path(source).is_dir():
        for folder in sorted(p for p in Path(source).iterdir() if p.is_dir()):
            infos += [model_info(source, folder.name, v) for v in _folder_versions(folder)]
    rows = [
        {
            "name": i.name,
            "version": i.version,
            "model_class": i.model_class,
            "trained_from": i.training_window[0],
            "trained_to": i.training_window[1],
            "n_users": i.n_users,
            "n_items": i.n_items,
            "catalog_fingerprint": i.catalog_fingerprint,
            "created_at": i.created_at,
            **{f"metric.{k}": v for k, v in i.metrics.items()},
        }
        for i in infos
    ]
    return pd.DataFrame(rows)


# -- arrays --------------------------------------------------------------------------------------
def _ids(index: pd.Index) -> np.ndarray:
    if pd.api.types.is_integer_dtype(index.dtype):
        return index.to_numpy(dtype=np.int64)
    return np.array([str(v) for v in index], dtype=np.str_)


def _model_arrays(model: Recommender) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "users": _ids(model.user_index_),
        "items": _ids(model.item_index_),
        "item_popularity": np.asarray(model.item_popularity_),
    }
    for prefix, matrix in [("user_items", model.user_items_)] + [
        (n, getattr(model, n)) for n in model._state_names
    ]:
        if sp.issparse(matrix):
            csr = sp.csr_matrix(matrix)
            arrays[f"{prefix}.data"] = csr.data
            arrays[f"{prefix}.indices"] = csr.indices
            arrays[f"{prefix}.indptr"] = csr.indptr
            arrays[f"{prefix}.shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            arrays[prefix] = np.asarray(matrix)
    return arrays


def _restore(model: Recommender, arrays: dict[str, np.ndarray]) -> None:
    def get(prefix: str) -> Any:
        if prefix in arrays:
            return arrays[prefix]
        return sp.csr_matrix(
            (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
            shape=tuple(int(x) for x in arrays[f"{prefix}.shape"]),
        )

    model.user_index_ = pd.Index(arrays["users"].tolist())
    model.item_index_ = pd.Index(arrays["items"].tolist())
    model.item_popularity_ = arrays["item_popularity"]
    model.user_items_ = get("user_items")
    for name in model._state_names:
        setattr(model, name, get(name))


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return [int(m.group(1)) for p in folder.iterdir() if (m := re.match(r"^v(\d+)\.json$", p.name))]


def _next_version_project(store: Any, name: str) -> int:
    from engagekit.errors import NotFoundError

    try:
        return max(r.version for r in store.versions(DEFINITION_KIND, name)) + 1
    except NotFoundError:
        return 1
