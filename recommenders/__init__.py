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
from recommenders.evaluation import (
    catalog_coverage,
    compare,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    split_by_time,
    split_leave_last_out,
    split_stratified,
)
from recommenders.interactions import InteractionMatrix, interactions_from_events, load_movielens
from recommenders.knn import ItemKNNRecommender
from recommenders.popularity import PopularityRecommender

__all__ = [
    "RECOMMEND_COLUMNS",
    "ALSRecommender",
    "CatalogMismatchWarning",
    "InteractionMatrix",
    "InteractionsError",
    "ItemKNNRecommender",
    "NotFittedError",
    "PopularityRecommender",
    "Recommender",
    "RecommenderError",
    "catalog_coverage",
    "compare",
    "interactions_from_events",
    "load_movielens",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "split_by_time",
    "split_leave_last_out",
    "split_stratified",
]
