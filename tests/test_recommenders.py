"""Estimators, interactions and evaluation of the recommenders package on small, exact data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import recommenders
from recommenders import (
    ALSRecommender,
    EASERecommender,
    InteractionsError,
    ItemKNNRecommender,
    NotFittedError,
    PopularityRecommender,
    RecommenderError,
    catalog_coverage,
    compare,
    decay_weights,
    interactions_from_events,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    split_by_time,
    split_leave_last_out,
    split_stratified,
)

MODELS = [
    PopularityRecommender,
    lambda: ItemKNNRecommender(n_neighbors=10),
    lambda: ItemKNNRecommender(n_neighbors=5, prune="source"),
    lambda: ALSRecommender(factors=4, iterations=10, regularization=1.0, random_state=0),
    lambda: EASERecommender(regularization=10.0, n_threads=1),
]


def _clusters(n_users: int = 60, seed: int = 0) -> pd.DataFrame:
    """Two taste clusters: even users like items a*, odd users like items b*; 'pop' is for all."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = "a" if u % 2 == 0 else "b"
        items = rng.choice(6, size=4, replace=False)
        rows += [(f"u{u}", f"{group}{i}", 1.0 + i % 2, 1_700_000_000 + 60 * j) for j, i in
                 enumerate(items)]  # fmt: skip
        rows.append((f"u{u}", "pop", 1.0, 1_700_000_000 + 3600))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "timestamp"])


def test_public_names_are_exported_and_importable() -> None:
    for name in recommenders.__all__:
        assert hasattr(recommenders, name), name
    assert {"ALSRecommender", "ItemKNNRecommender", "PopularityRecommender"} <= set(
        recommenders.__all__
    )


@pytest.mark.parametrize("make", MODELS)
def test_recommend_before_fit_names_the_fix(make) -> None:
    with pytest.raises(NotFittedError, match=r"\.fit\(interactions\)"):
        make().recommend(["u1"])


@pytest.mark.parametrize("make", MODELS)
def test_fit_returns_self_and_learns_underscore_attributes(make) -> None:
    model = make()
    assert not [a for a in vars(model) if a.endswith("_")]
    assert model.fit(_clusters()) is model
    learned = [a for a in vars(model) if a.endswith("_")]
    assert {"user_index_", "item_index_", "user_items_", "item_popularity_"} <= set(learned)
    assert model.n_users_ == 60 and model.n_items_ == 13


@pytest.mark.parametrize("make", MODELS)
def test_recommend_returns_tidy_top_k_without_seen_items(make) -> None:
    data = _clusters()
    model = make().fit(data)
    recs = model.recommend(["u0", "u1"], k=3)
    assert list(recs.columns) == ["id", "rank", "item", "score"]
    assert recs.groupby("id")["rank"].apply(list).to_dict() == {"u0": [1, 2, 3], "u1": [1, 2, 3]}
    seen = set(data.loc[data.user_id == "u0", "item_id"])
    assert not seen & set(recs.loc[recs.id == "u0", "item"])
    assert recs.groupby("id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


@pytest.mark.parametrize("make", MODELS[1:])
def test_personalised_models_recommend_the_users_own_cluster(make) -> None:
    model = make().fit(_clusters())
    recs = model.recommend([f"u{u}" for u in range(20)], k=2)
    top = recs[recs["rank"] == 1]
    expected = np.where(top["id"].str[1:].astype(int) % 2 == 0, "a", "b")
    assert (top["item"].str[0].to_numpy() == expected).mean() >= 0.9


@pytest.mark.parametrize("make", MODELS)
def test_cold_ids_get_the_popularity_ranking(make) -> None:
    model = make().fit(_clusters())
    recs = model.recommend(["new-user"], k=3)
    assert recs["item"].tolist() == model.popular_items(3)
    assert recs["item"].iloc[0] == "pop"


def test_exclude_seen_false_may_return_seen_items() -> None:
    model = PopularityRecommender().fit(_clusters())
    recs = model.recommend(["u0"], k=1, exclude_seen=False)
    assert recs["item"].tolist() == ["pop"]


@pytest.mark.parametrize("make", MODELS)
def test_filter_items_removes_items_globally_and_per_id(make) -> None:
    model = make().fit(_clusters())
    everyone = model.recommend(["u0", "nobody"], k=5, filter_items=["pop", "a0", "b0"])
    assert not {"pop", "a0", "b0"} & set(everyone["item"])
    first = model.recommend(["u0", "u1"], k=1)
    per_id = model.recommend(
        ["u0", "u1"], k=1, filter_items={"u0": [first["item"].iloc[0]]}
    ).set_index("id")["item"]
    assert per_id["u0"] != first["item"].iloc[0]
    assert per_id["u1"] == first["item"].iloc[1]


def test_recommend_finds_integer_ids_given_as_text() -> None:
    data = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    model = ItemKNNRecommender().fit(data)
    assert model.recommend(["2"], k=1)["item"].tolist() == [11]


def test_recommend_returns_fewer_rows_when_the_user_saw_every_item() -> None:
    data = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    recs = ALSRecommender(factors=2, random_state=0).fit(data).recommend(["a", "b"], k=5)
    assert recs.groupby("id").size().to_dict() == {"b": 1}


def test_recommend_rejects_bad_k() -> None:
    model = PopularityRecommender().fit(_clusters())
    with pytest.raises(RecommenderError, match="k must be a positive integer"):
        model.recommend(["u0"], k=0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ALSRecommender(factors=0), r"factors=\.\.\.\) must be int in \[1"),
        (ALSRecommender(alpha=-1), r"alpha=\.\.\.\) must be int or float"),
        (ItemKNNRecommender(binary="yes"), r"binary=\.\.\.\) must be bool"),
        (PopularityRecommender(by="clicks"), "must be 'users' or 'weight'"),
        (ItemKNNRecommender(prune="both"), "must be 'target' or 'source'"),
    ],
)
def test_invalid_parameters_fail_at_fit_with_the_parameter_named(model, message) -> None:
    with pytest.raises(RecommenderError, match=message):
        model.fit(_clusters())


def test_get_params_set_params_and_repr_follow_scikit_learn() -> None:
    model = ALSRecommender(factors=8)
    assert model.get_params()["factors"] == 8
    assert model.set_params(alpha=3.0) is model and model.alpha == 3.0
    assert repr(model) == "ALSRecommender(factors=8, alpha=3.0)"
    with pytest.raises(RecommenderError, match="has no parameter 'rank'"):
        model.set_params(rank=3)


def test_als_is_deterministic_for_a_seed() -> None:
    data = _clusters()
    a = ALSRecommender(factors=4, random_state=3).fit(data).recommend(["u5"], k=4)
    b = ALSRecommender(factors=4, random_state=3).fit(data).recommend(["u5"], k=4)
    pd.testing.assert_frame_equal(a, b)


def test_knn_shrinkage_and_neighbour_limit_shape_the_similarity() -> None:
    data = _clusters()
    full = ItemKNNRecommender(n_neighbors=100).fit(data)
    one = ItemKNNRecommender(n_neighbors=1).fit(data)
    assert (np.diff(one.similarity_.tocsc().indptr) <= 1).all()  # one neighbour per target
    by_source = ItemKNNRecommender(n_neighbors=1, prune="source").fit(data)
    assert (np.diff(by_source.similarity_.indptr) <= 1).all()  # one neighbour per user item
    shrunk = ItemKNNRecommender(n_neighbors=100, shrinkage=50).fit(data)
    assert shrunk.similarity_.max() < full.similarity_.max()


def test_popularity_by_weight_uses_summed_weights() -> None:
    data = pd.DataFrame(
        {"user_id": ["a", "b", "c"], "item_id": ["x", "x", "y"], "weight": [1.0, 1.0, 5.0]}
    )
    assert PopularityRecommender(by="weight").fit(data).popular_items(1) == ["y"]
    assert PopularityRecommender().fit(data).popular_items(1) == ["x"]


def test_fit_accepts_custom_column_names_and_sums_duplicates() -> None:
    data = pd.DataFrame({"userID": ["a", "a", "b"], "itemID": ["x", "x", "y"], "r": [2, 3, 1]})
    model = PopularityRecommender(by="weight").fit(
        data, col_user="userID", col_item="itemID", col_weight="r"
    )
    assert model.user_items_.toarray().tolist() == [[5.0, 0.0], [0.0, 1.0]]


def test_fit_names_missing_columns() -> None:
    with pytest.raises(InteractionsError, match=r"lack column\(s\) \['user_id'\].*col_user="):
        PopularityRecommender().fit(pd.DataFrame({"user": [1], "item_id": [2]}))


def test_fit_rejects_negative_weights() -> None:
    data = pd.DataFrame({"user_id": [1], "item_id": [2], "weight": [-1.0]})
    with pytest.raises(InteractionsError, match="non-negative"):
        PopularityRecommender().fit(data)


# -- interactions from events --------------------------------------------------------------------
def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_type": [
                "_monetization.purchase",
                "product.view",
                "_email.open",
                "_monetization.purchase",
            ],
            "event_timestamp": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"], utc=True
            ),
            "user_id": ["u1", "u1", "u2", None],
            "endpoint_id": ["e1", "e1", "e2", "e3"],
            "attributes": [
                {"_product_id": "sku1"},
                {"_product_id": "sku2"},
                {},
                {"_product_id": "sku1"},
            ],
            "metrics": [{"_quantity": 2.0}, {}, {}, {"_quantity": 1.0}],
        }
    )


def test_interactions_from_events_keeps_weighted_event_types() -> None:
    out = interactions_from_events(_events(), {"_monetization.purchase": 5, "product.view": 1})
    assert out[["user_id", "item_id", "weight"]].values.tolist() == [
        ["u1", "sku1", 5.0],
        ["u1", "sku2", 1.0],
        ["e3", "sku1", 5.0],  # no user id: the endpoint id stands in
    ]
    assert str(out["timestamp"].dtype).startswith("datetime64")


def test_interactions_from_events_multiplies_by_a_metric_and_reads_endpoint_ids() -> None:
    out = interactions_from_events(
        _events(), weight_metric="_quantity", id_type="PINPOINT_ENDPOINT_ID"
    )
    assert out[["user_id", "weight"]].values.tolist() == [["e1", 2.0], ["e3", 1.0]]


def test_interactions_from_events_reads_arrow_maps_and_promoted_columns() -> None:
    events = _events()
    events["attributes"] = pd.Series(
        pa.array(
            [list(d.items()) for d in events["attributes"]], type=pa.map_(pa.string(), pa.string())
        ),
        dtype=pd.ArrowDtype(pa.map_(pa.string(), pa.string())),
    )
    out = interactions_from_events(events, {"_monetization.purchase": 1, "product.view": 1})
    assert out["item_id"].tolist() == ["sku1", "sku2", "sku1"]
    # the lake promotes _product_id to a flat product_id column
    lake = events.drop(columns=["attributes"]).assign(product_id=["sku9", "sku8", None, "sku9"])
    assert interactions_from_events(lake)["item_id"].tolist() == ["sku9", "sku9"]


def test_interactions_from_events_feed_a_model() -> None:
    out = interactions_from_events(_events(), {"_monetization.purchase": 1, "product.view": 1})
    model = PopularityRecommender().fit(out)
    assert model.recommend(["e3"], k=1)["item"].tolist() == ["sku2"]


def test_interactions_from_events_explains_a_missing_item_attribute() -> None:
    events = _events().drop(columns=["attributes"])
    with pytest.raises(InteractionsError, match="holding '_product_id'"):
        interactions_from_events(events)


# -- splits ----------------------------------------------------------------------------------------
def test_stratified_split_keeps_every_user_in_train_with_the_ratio() -> None:
    data = _clusters()
    train, test = split_stratified(data, ratio=0.6, seed=1)
    assert len(train) + len(test) == len(data)
    assert set(train.user_id) == set(data.user_id)
    per_user = train.groupby("user_id").size()
    assert (per_user == 3).all()  # round(0.6 * 5)
    again, _ = split_stratified(data, ratio=0.6, seed=1)
    pd.testing.assert_frame_equal(train, again)


def test_leave_last_out_tests_on_each_users_latest_interaction() -> None:
    data = _clusters()
    train, test = split_leave_last_out(data)
    assert len(test) == data.user_id.nunique()
    assert (test["item_id"] == "pop").all()  # the latest event of every user
    latest_train = train.groupby("user_id")["timestamp"].max()
    assert (test.set_index("user_id")["timestamp"] >= latest_train.reindex(test.user_id)).all()


def test_leave_last_out_keeps_users_with_too_few_interactions_in_train() -> None:
    data = pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": [1, 1, 2], "timestamp": [1, 2, 3]})
    train, test = split_leave_last_out(data)
    assert test.values.tolist() == [["b", 2, 3]]
    assert sorted(train.user_id) == ["a", "b"]


def test_time_split_cuts_at_a_moment() -> None:
    data = _clusters()
    train, test = split_by_time(data, at="2023-11-14 23:00")
    assert len(train) == 240
    assert (test["item_id"] == "pop").all() and len(test) == 60
    auto_train, auto_test = split_by_time(data, test_fraction=0.2)
    assert auto_train.timestamp.max() < auto_test.timestamp.min()


# -- metrics ---------------------------------------------------------------------------------------
def _recs_and_test() -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = pd.DataFrame(
        {
            "id": ["a", "a", "a", "b", "b", "b"],
            "rank": [1, 2, 3, 1, 2, 3],
            "item": ["x", "y", "z", "x", "y", "z"],
            "score": [3.0, 2, 1, 3, 2, 1],
        }
    )
    test = pd.DataFrame({"user_id": ["a", "a", "b", "c"], "item_id": ["y", "w", "z", "x"]})
    return recs, test


def test_ranking_metrics_match_hand_computed_values() -> None:
    recs, test = _recs_and_test()
    # a: hit at rank 2 of 2 relevant; b: hit at rank 3 of 1; c: no recommendations
    assert precision_at_k(recs, test, k=3) == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert recall_at_k(recs, test, k=3) == pytest.approx((1 / 2 + 1 + 0) / 3)
    ndcg_a = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    ndcg_b = (1 / np.log2(4)) / 1
    assert ndcg_at_k(recs, test, k=3) == pytest.approx((ndcg_a + ndcg_b) / 3)
    assert map_at_k(recs, test, k=3) == pytest.approx(((1 / 2) / 2 + (1 / 3) / 1) / 3)
    assert precision_at_k(recs, test, k=1) == 0.0


def test_perfect_recommendations_score_one() -> None:
    recs = pd.DataFrame({"id": ["a", "a"], "rank": [1, 2], "item": ["x", "y"], "score": 1.0})
    test = pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"]})
    assert ndcg_at_k(recs, test, k=2) == pytest.approx(1.0)
    assert map_at_k(recs, test, k=2) == pytest.approx(1.0)
    assert recall_at_k(recs, test, k=2) == pytest.approx(1.0)


def test_catalog_coverage_counts_distinct_recommended_items() -> None:
    recs, _ = _recs_and_test()
    assert catalog_coverage(recs, ["x", "y", "z", "w"]) == pytest.approx(0.75)
    assert catalog_coverage(recs, 6) == pytest.approx(0.5)


def test_compare_fits_every_model_and_builds_a_table() -> None:
    train, test = split_stratified(_clusters(200), ratio=0.6, seed=0)
    table = compare(
        [PopularityRecommender(), ItemKNNRecommender(), PopularityRecommender(by="weight")],
        train,
        test,
        k=3,
    )
    assert list(table.index) == ["popularity", "itemknn", "popularity_2"]
    assert {"precision@3", "recall@3", "ndcg@3", "map@3", "coverage", "fit_seconds"} <= set(
        table.columns
    )
    assert table.loc["itemknn", "ndcg@3"] > table.loc["popularity", "ndcg@3"] + 0.1
    assert table.loc["popularity", "coverage"] < table.loc["itemknn", "coverage"]


def test_compare_without_models_is_an_error() -> None:
    train, test = split_leave_last_out(_clusters())
    with pytest.raises(RecommenderError, match="at least one model"):
        compare({}, train, test)


def test_decay_weights_halve_per_half_life_and_favour_recent_items() -> None:
    data = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "item_id": ["old", "old", "new", "x"],
            "weight": [1.0, 1.0, 1.5, 1.0],
            "timestamp": pd.to_datetime(
                ["2026-01-01", "2026-01-01", "2026-03-02", "2026-03-02"], utc=True
            ),
        }
    )
    decayed = decay_weights(data, "30D")
    assert decayed["weight"].round(4).tolist() == [0.25, 0.25, 1.5, 1.0]
    assert data["weight"].tolist() == [1.0, 1.0, 1.5, 1.0]  # input untouched
    model = PopularityRecommender(by="weight")
    assert model.fit(data).popular_items(1) == ["old"]
    assert model.fit(decayed).popular_items(1) == ["new"]
    with pytest.raises(InteractionsError, match="half_life must be positive"):
        decay_weights(data, "0D")


@pytest.mark.parametrize(
    "module",
    [
        "_base",
        "catalog",
        "interactions",
        "knn",
        "popularity",
        "als",
        "ease",
        "evaluation",
        "serving",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(f"recommenders.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_popularity_fast_path_matches_the_dense_ranking() -> None:
    data = _clusters(80, seed=3)
    ids = [f"u{u}" for u in range(0, 80, 3)] + ["cold"]
    bans = {"u3": ["pop", "a1"], "cold": ["pop"], "u9": ["b0"]}
    fast = PopularityRecommender().fit(data)
    dense = PopularityRecommender().fit(data)
    dense._same_for_everyone = False  # the generic user × item path
    for kwargs in [{}, {"filter_items": ["pop", "a2"]}, {"filter_items": bans}]:
        for exclude_seen in (True, False):
            got = fast.recommend(ids, k=4, exclude_seen=exclude_seen, **kwargs)
            want = dense.recommend(ids, k=4, exclude_seen=exclude_seen, **kwargs)
            pd.testing.assert_frame_equal(got, want)


def test_interactions_from_a_projects_event_lake_train_a_model(project) -> None:
    from engagekit.events import append_events, generate_events
    from engagekit.sample import generate_endpoints

    endpoints = generate_endpoints(300, seed=5)
    append_events(project, generate_events(endpoints, 6_000, seed=5, days=5))
    weights = {"_monetization.purchase": 5, "add_to_cart": 2, "view_item": 1}
    interactions = recommenders.interactions_from_lake(project, weights)
    assert set(interactions.columns) == {"user_id", "item_id", "weight", "timestamp"}
    assert set(interactions["weight"]) <= {1.0, 2.0, 5.0} and len(interactions) > 100
    assert interactions["item_id"].str.startswith("p").all()
    model = ALSRecommender(factors=8, iterations=5, random_state=0).fit(interactions)
    some_user = interactions["user_id"].iloc[0]
    assert len(model.recommend([some_user], k=3)) == 3


@pytest.mark.parametrize("make", MODELS[1:])
def test_similar_items_stay_in_the_items_cluster(make) -> None:
    model = make().fit(_clusters())
    similar = model.similar_items(["a0", "b3", "unknown"], k=3, filter_items=["pop"])
    assert list(similar.columns) == ["item", "rank", "similar_item", "score"]
    by_item = similar.groupby("item", sort=False)["similar_item"].agg(list)
    assert all(i.startswith("a") and i != "a0" for i in by_item["a0"])
    assert all(i.startswith("b") and i != "b3" for i in by_item["b3"])
    assert len(by_item["unknown"]) == 3 and "pop" not in by_item["unknown"]


def test_popularity_has_no_similar_items() -> None:
    model = PopularityRecommender().fit(_clusters())
    with pytest.raises(RecommenderError, match="no notion of item similarity"):
        model.similar_items(["a0"])


def test_ease_refuses_catalogs_too_large_for_a_dense_inverse() -> None:
    with pytest.raises(RecommenderError, match=r"more than max_items=5\. Use ALSRecommender"):
        EASERecommender(max_items=5).fit(_clusters())


def test_grid_search_ranks_parameter_combinations_by_the_metric() -> None:
    train, test = split_stratified(_clusters(200), ratio=0.6, seed=0)
    table = recommenders.grid_search(
        ItemKNNRecommender(), {"n_neighbors": [1, 10], "binary": [True, False]}, train, test, k=3
    )
    assert len(table) == 4
    assert {"n_neighbors", "binary", "ndcg@3", "fit_seconds"} <= set(table.columns)
    assert table["ndcg@3"].is_monotonic_decreasing
    with pytest.raises(RecommenderError, match=r"no parameter\(s\) \['rank'\]"):
        recommenders.grid_search(ItemKNNRecommender(), {"rank": [1]}, train, test)
