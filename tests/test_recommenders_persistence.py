"""Saving and loading fitted models: versions, metadata, catalog fingerprints, no pickle."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engagekit.project import Project
from recommenders import (
    ALSRecommender,
    CatalogMismatchWarning,
    EASERecommender,
    ItemKNNRecommender,
    NotFittedError,
    PopularityRecommender,
    RecommenderError,
    catalog_fingerprint,
    list_models,
    load_model,
    make_catalog,
    model_info,
    save_model,
)


def _interactions() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    users = rng.integers(0, 40, size=400)
    items = (users % 4) * 5 + rng.integers(0, 5, size=400)
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in users],
            "item_id": items,
            "weight": rng.integers(1, 4, size=400).astype(float),
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86_400 * 30, size=400), unit="s"),
        }
    )


def _catalog(extra: int = 0) -> pd.DataFrame:
    ids = list(range(20 + extra))
    return make_catalog(pd.DataFrame({"item_id": ids, "title": [f"Item {i}" for i in ids]}))


MODELS = [
    PopularityRecommender,
    ItemKNNRecommender,
    lambda: ALSRecommender(factors=8, iterations=4, random_state=1),
    lambda: EASERecommender(regularization=5.0, n_threads=1),
]


@pytest.mark.parametrize("make", MODELS)
def test_saved_model_recommends_exactly_like_the_original(make, tmp_path: Path) -> None:
    model = make().fit(_interactions())
    save_model(model, tmp_path, "shop")
    loaded = load_model(tmp_path, "shop")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    ids = ["u1", "u7", "new"]
    pd.testing.assert_frame_equal(loaded.recommend(ids, k=5), model.recommend(ids, k=5))


def test_metadata_records_version_window_metrics_and_catalog(tmp_path: Path) -> None:
    model = PopularityRecommender().fit(_interactions())
    first = save_model(model, tmp_path, "shop", metrics={"ndcg@10": 0.25}, catalog=_catalog())
    second = save_model(model, tmp_path, "shop", comment="retrained")
    assert (first.version, second.version) == (1, 2)
    info = model_info(tmp_path, "shop", 1)
    assert info.metrics == {"ndcg@10": 0.25}
    assert info.catalog_fingerprint == catalog_fingerprint(_catalog())
    assert info.training_window[0].startswith("2026-01-01")
    assert info.n_users == model.n_users_ and info.n_interactions == 400
    assert load_model(tmp_path, "shop").model_info_.version == 2
    assert load_model(tmp_path, "shop", 1).model_info_.comment is None
    assert load_model(tmp_path, "shop", 1).training_window_[0] == model.training_window_[0]
    table = list_models(tmp_path)
    assert table[["name", "version"]].values.tolist() == [["shop", 1], ["shop", 2]]
    assert "metric.ndcg@10" in table.columns


def test_files_are_npz_and_json_and_load_without_pickle(tmp_path: Path) -> None:
    save_model(ItemKNNRecommender().fit(_interactions()), tmp_path, "shop")
    folder = tmp_path / "shop"
    assert sorted(p.name for p in folder.iterdir()) == ["v1.json", "v1.npz"]
    meta = json.loads((folder / "v1.json").read_text())
    assert meta["model_class"] == "ItemKNNRecommender" and meta["format"] == 1
    with np.load(folder / "v1.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    save_model(PopularityRecommender().fit(_interactions()), tmp_path, "shop")
    path = tmp_path / "shop" / "v1.npz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RecommenderError, match="does not match its recorded checksum"):
        load_model(tmp_path, "shop")


def test_loading_with_another_catalog_version_warns(tmp_path: Path) -> None:
    model = PopularityRecommender().fit(_interactions())
    save_model(model, tmp_path, "shop", catalog=_catalog())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(tmp_path, "shop", catalog=_catalog())  # same item set: silent
        # prices change daily without changing the catalog version
        load_model(tmp_path, "shop", catalog=_catalog().assign(price=1.0))
    with pytest.warns(
        CatalogMismatchWarning,
        match=r"\(20 items\) but .* \(23 items\): 0 of the model's 20 items .* 3 of its",
    ):
        load_model(tmp_path, "shop", catalog=_catalog(extra=3))


def test_project_keeps_versions_and_a_pinned_version_stays_loadable(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "proj", name="t")
    data = _interactions()
    v1 = save_model(PopularityRecommender().fit(data), project, "shop")
    v2 = save_model(ItemKNNRecommender().fit(data), project, "shop")
    assert (v1.version, v2.version) == (1, 2)
    assert isinstance(load_model(project, "shop"), ItemKNNRecommender)
    assert isinstance(load_model(project, "shop", version=1), PopularityRecommender)
    project.store.set_active("recommender_model", "shop", 1)  # roll back
    assert isinstance(load_model(Project.open(project.path), "shop"), PopularityRecommender)
    assert (project.path / "store" / "models" / "shop" / "v2.npz").exists()
    assert list_models(project)["version"].tolist() == [1, 2]


def test_unknown_models_and_versions_are_named(tmp_path: Path) -> None:
    save_model(PopularityRecommender().fit(_interactions()), tmp_path, "shop")
    with pytest.raises(RecommenderError, match=r"no saved model 'other'.*known: shop"):
        load_model(tmp_path, "other")
    with pytest.raises(RecommenderError, match="has no version 7; saved versions: 1"):
        load_model(tmp_path, "shop", 7)
    project = Project.create(tmp_path / "proj", name="t")
    with pytest.raises(RecommenderError, match="no saved model 'shop'"):
        load_model(project, "shop")


def test_saving_needs_a_fitted_model_and_a_safe_name(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="before save_model"):
        save_model(PopularityRecommender(), tmp_path, "shop")
    model = PopularityRecommender().fit(_interactions())
    with pytest.raises(RecommenderError, match=r"model name '\.\./x'"):
        save_model(model, tmp_path, "../x")
