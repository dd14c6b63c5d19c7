"""MovieLens 100k: every model beats popularity, popularity matches the public reference.

Reference (microsoft/recommenders README, k=10, 75/25 stratified split): popularity
precision@10 ≈ 0.224, nDCG@10 ≈ 0.248; SAR precision@10 ≈ 0.331, nDCG@10 ≈ 0.382.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_path

from recommenders import (
    ALSRecommender,
    EASERecommender,
    ItemKNNRecommender,
    ModelRecommendationProvider,
    PopularityRecommender,
    RecommenderConfiguration,
    compare,
    load_model,
    load_movielens,
    load_movielens_catalog,
    save_model,
    split_leave_last_out,
    split_stratified,
)


@pytest.fixture(scope="module")
def movielens() -> Path:
    return shared_path("datasets", "movielens-100k")


@pytest.fixture(scope="module")
def interactions(movielens: Path) -> pd.DataFrame:
    return load_movielens(movielens)


@pytest.fixture(scope="module")
def stratified_table(interactions: pd.DataFrame) -> pd.DataFrame:
    train, test = split_stratified(interactions, ratio=0.75, seed=42)
    models = {
        "popularity": PopularityRecommender(),
        "itemknn": ItemKNNRecommender(),
        "als": ALSRecommender(random_state=0),
        "ease": EASERecommender(n_threads=1),
    }
    return compare(models, train, test, k=10)


def test_movielens_loads_all_ratings(interactions: pd.DataFrame) -> None:
    assert len(interactions) == 100_000
    assert interactions["user_id"].nunique() == 943
    assert interactions["item_id"].nunique() == 1682
    assert str(interactions["timestamp"].dtype) == "datetime64[us, UTC]"


def test_popularity_matches_the_public_reference(stratified_table: pd.DataFrame) -> None:
    pop = stratified_table.loc["popularity"]
    assert pop["precision@10"] == pytest.approx(0.224, abs=0.01)
    assert pop["ndcg@10"] == pytest.approx(0.248, abs=0.01)


def test_every_model_beats_popularity_on_ndcg(stratified_table: pd.DataFrame) -> None:
    pop = stratified_table.loc["popularity", "ndcg@10"]
    for name in ("itemknn", "als", "ease"):
        row = stratified_table.loc[name]
        assert row["ndcg@10"] > pop + 0.1, (name, row["ndcg@10"], pop)
        assert row["precision@10"] > stratified_table.loc["popularity", "precision@10"] + 0.1
        # and both clear the SAR reference (nDCG@10 ≈ 0.382) of the public table
        assert row["ndcg@10"] > 0.382
        assert row["coverage"] > 5 * stratified_table.loc["popularity", "coverage"]


def test_every_model_beats_popularity_on_leave_last_out(interactions: pd.DataFrame) -> None:
    train, test = split_leave_last_out(interactions)
    table = compare(
        [PopularityRecommender(), ItemKNNRecommender(), ALSRecommender(random_state=0)],
        train,
        test,
        k=10,
    )
    assert (table["ndcg@10"].drop("popularity") > table.loc["popularity", "ndcg@10"]).all()


def test_a_saved_movielens_model_serves_titles_into_messages(
    interactions: pd.DataFrame, movielens: Path, tmp_path: Path
) -> None:
    catalog = load_movielens_catalog(movielens)
    assert catalog.loc[1, "title"] == "Toy Story (1995)"
    assert catalog.loc[1, "genres"] == "Animation|Children's|Comedy"
    model = ALSRecommender(iterations=5, random_state=0).fit(interactions)
    info = save_model(model, tmp_path, "movies", catalog=catalog, metrics={"ndcg@10": 0.4})
    config = RecommenderConfiguration(
        RecommendationProviderUri=f"model://movies/{info.version}",
        RecommendationProviderIdType="PINPOINT_USER_ID",
        RecommendationsPerMessage=3,
        Attributes={"Recommendations.Title": "title", "Recommendations.URL": "url"},
    )
    provider = ModelRecommendationProvider.from_configuration(config, tmp_path, catalog)
    context = provider.context(["1", "unknown-user"])
    seen = set(interactions.loc[interactions.user_id == 1, "item_id"].astype(str))
    assert len(context["1"]["RecommendationItems"]) == 3
    assert not seen & set(context["1"]["RecommendationItems"])
    titles = catalog.set_index(catalog.index.astype(str))["title"]
    assert context["1"]["Recommendations"]["Title"] == [
        titles[i] for i in context["1"]["RecommendationItems"]
    ]
    assert len(context["unknown-user"]["Recommendations"]["URL"]) == 3
    reloaded = load_model(tmp_path, "movies")
    assert (
        reloaded.recommend([1], k=3)["item"].tolist() == model.recommend([1], k=3)["item"].tolist()
    )
