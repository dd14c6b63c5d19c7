"""Recommenders in scikit-learn style that feed recommendation attributes into engagekit templates.

    >>> from recommenders import ALSRecommender, load_movielens, split_stratified, compare
    >>> interactions = load_movielens("../shared/datasets/movielens-100k")   # doctest: +SKIP
    >>> train, test = split_stratified(interactions, ratio=0.75, seed=42)   # doctest: +SKIP
    >>> compare([PopularityRecommender(), ALSRecommender()], train, test)   # doctest: +SKIP

Estimators store parameters in ``__init__``, learn in ``fit(interactions) -> self`` (learned
attributes end in ``_``) and answer ``recommend(ids, k) -> DataFrame(id, rank, item, score)``;
ids unseen in training get the popularity ranking.
"""

from recommenders._base import RECOMMEND_COLUMNS, Recommender
from recommenders._errors import (
    CatalogMismatchWarning,
    InteractionsError,
    NotFittedError,
    RecommenderError,
)
from recommenders.als import ALSRecommender
from recommenders.catalog import (
    available_items,
    catalog_fingerprint,
    load_movielens_catalog,
    make_catalog,
    sample_catalog,
)
from recommenders.ease import EASERecommender
from recommenders.evaluation import (
    catalog_coverage,
    compare,
    grid_search,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    split_by_time,
    split_leave_last_out,
    split_stratified,
)
from recommenders.interactions import (
    InteractionMatrix,
    decay_weights,
    interactions_from_events,
    interactions_from_lake,
    load_movielens,
    sample_interactions,
)
from recommenders.knn import ItemKNNRecommender
from recommenders.persistence import (
    ModelInfo,
    check_catalog,
    list_models,
    load_model,
    model_info,
    save_model,
)
from recommenders.popularity import PopularityRecommender
from recommenders.serving import (
    ModelRecommendationProvider,
    RecommenderConfiguration,
    load_recommender,
    save_recommender,
)

__all__ = [
    "RECOMMEND_COLUMNS",
    "ALSRecommender",
    "CatalogMismatchWarning",
    "EASERecommender",
    "InteractionMatrix",
    "InteractionsError",
    "ItemKNNRecommender",
    "ModelInfo",
    "ModelRecommendationProvider",
    "NotFittedError",
    "PopularityRecommender",
    "Recommender",
    "RecommenderConfiguration",
    "RecommenderError",
    "available_items",
    "catalog_coverage",
    "catalog_fingerprint",
    "check_catalog",
    "compare",
    "decay_weights",
    "grid_search",
    "interactions_from_events",
    "interactions_from_lake",
    "list_models",
    "load_model",
    "load_movielens",
    "load_movielens_catalog",
    "load_recommender",
    "make_catalog",
    "map_at_k",
    "model_info",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "sample_catalog",
    "sample_interactions",
    "save_model",
    "save_recommender",
    "split_by_time",
    "split_leave_last_out",
    "split_stratified",
]
