"""The item catalog: a DataFrame indexed by item id (title, url, image, price, in_stock, …).

Templates read recommended items' attributes from it (``{{Recommendations.Title.[0]}}``); the
serving layer drops items that are out of stock or absent from it. Its fingerprint (a hash of
the item ids) is stored with a saved model, so using the model with another catalog warns.

    >>> import pandas as pd
    >>> catalog = make_catalog(pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"]}))
    >>> catalog["in_stock"].tolist()
    [True, True]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommenders._errors import RecommenderError

#: Columns a catalog usually has; only the index (item id) is required.
CATALOG_COLUMNS = ("title", "url", "image", "price", "in_stock")

_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def make_catalog(
    items: pd.DataFrame, *, col_item: str | None = "item_id", in_stock: str = "in_stock"
) -> pd.DataFrame:
    """A catalog from a frame: indexed by ``col_item`` (or the existing index when the column is
    absent or ``None``), ids unique, ``in_stock`` a bool column (True when absent)."""
    frame = items.copy()
    if col_item is not None and col_item in frame.columns:
        frame = frame.set_index(col_item)
    frame.index.name = "item_id"
    if frame.index.hasnans:
        raise RecommenderError("catalog item ids must not be missing")
    dupes = frame.index[frame.index.duplicated()].unique()
    if len(dupes):
        shown = ", ".join(map(str, dupes[:5]))
        raise RecommenderError(
            f"catalog item ids must be unique; repeated: {shown}"
            + (" …" if len(dupes) > 5 else "")
            + " (drop_duplicates(subset=...) keeps one row per item)"
        )
    if in_stock in frame.columns:
        frame[in_stock] = frame[in_stock].fillna(False).astype(bool)
    else:
        frame[in_stock] = True
    return frame


def load_movielens_catalog(path: str | Path) -> pd.DataFrame:
    """MovieLens 100k ``u.item`` (latin-1, ``|``-separated) as a catalog.

    Columns: title, url (IMDb), image (empty), price (NA), in_stock (True), release_date,
    genres (``"Animation|Children's|Comedy"``). ``path`` is the folder or the file.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "u.item"
    names = ["item_id", "title", "release_date", "video_release_date", "url", *_GENRES]
    raw = pd.read_csv(file, sep="|", names=names, encoding="latin-1", header=None)
    flags = raw[_GENRES].to_numpy(dtype=bool)
    genre_names = np.array(_GENRES, dtype=object)
    genres = ["|".join(genre_names[row]) for row in flags]
    frame = pd.DataFrame(
        {
            "item_id": raw["item_id"].astype("int64"),
            "title": raw["title"].astype("string"),
            "url": raw["url"].astype("string"),
            "image": pd.Series(pd.NA, index=raw.index, dtype="string"),
            "price": pd.Series(np.nan, index=raw.index, dtype="float64"),
            "in_stock": True,
            "release_date": pd.to_datetime(raw["release_date"], format="%d-%b-%Y", errors="coerce"),
            "genres": pd.Series(genres, index=raw.index, dtype="string"),
        }
    )
    return make_catalog(frame)


def sample_catalog(n_items: int = 200, *, seed: int = 0, in_stock_share: float = 0.95):
    """A synthetic shop catalog for ``sample_interactions`` items (ids 0 … n_items - 1)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n_items)
    return make_catalog(
        pd.DataFrame(
            {
                "item_id": ids,
                "title": pd.Series([f"Product {i}" for i in ids], dtype="string"),
                "url": pd.Series([f"https://shop.example/p/{i}" for i in ids], dtype="string"),
                "image": pd.Series(
                    [f"https://shop.example/img/{i}.jpg" for i in ids], dtype="string"
                ),
                "price": np.round(rng.lognormal(3.0, 0.8, size=n_items), 2),
                "in_stock": rng.random(n_items) < in_stock_share,
            }
        )
    )


def catalog_fingerprint(catalog: pd.DataFrame | pd.Index | Iterable[Any]) -> str:
    """A stable hash of the catalog's item ids (order and dtype do not matter).

    Prices and stock change daily without changing the catalog a model was trained on, so
    only the set of ids counts.
    """
    ids = catalog.index if isinstance(catalog, pd.DataFrame) else pd.Index(list(catalog))
    text = "\n".join(sorted(map(str, ids.unique())))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def available_items(catalog: pd.DataFrame, *, in_stock: str = "in_stock") -> pd.Index:
    """Item ids that can be recommended now (in stock, or every item without that column)."""
    if in_stock not in catalog.columns:
        return catalog.index
    return catalog.index[catalog[in_stock].fillna(False).astype(bool).to_numpy()]
