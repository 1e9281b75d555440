"""The content model: item-item similarity from product text and attributes.

Each product becomes one sparse vector made of blocks, each block L2-normalised and scaled by
√weight:

    v_i = [√w_text·tfidf(title + description), √w_cat·onehot(category), √w_brand·onehot(brand),
           √w_price·band(log price), √w_feat·extra features]

so after a final L2 normalisation the cosine of two products that both have every block is the
weighted mean of the block cosines (tf-idf in ``text``, the attribute blocks in ``attributes``,
the exact top-k in ``neighbours``). The vocabulary and idf are saved with the model, so a
shopper's search query can be vectorised after ``load``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import check_ids, check_user_items
from recommender.core.content.attributes import (
    Attributes,
    band_codes,
    label_codes,
    one_hot_codes,
    price_bands,
)
from recommender.core.content.neighbours import neighbours
from recommender.core.content.text import terms, tfidf
from recommender.core.kernels import (
    FLOAT,
    normalize_rows,
    row_norms,
    sparse_row_dots,
    sparse_rows_sum,
)
from recommender.core.ranking import top_k


class ContentModel(Recommender):
    """Item-item similarity from text, category, brand and price.

    Parameters
    ----------
    n_neighbors : int
        Neighbours kept per item for request-time scoring.
    text_weight, category_weight, brand_weight, price_weight, feature_weight : float
        Block weights (>= 0); cosine = weighted mean of the block cosines.
    bigrams : bool
        Add adjacent-token bigrams ("running shoe") to the vocabulary.
    min_df : int
        Drop terms in fewer products than this (typos, SKUs).
    max_features : int
        Keep at most this many terms, the most widespread first.
    price_band_ratio : float
        Width of a price band as a ratio (1.5: each band spans ×1.5); a product also gets half
        weight in the two adjacent bands, so prices either side of a band edge stay similar.
    random_state : int or None
        Unused (the fit is deterministic); kept for the common constructor shape.
    """

    name: ClassVar[str] = "content"
    needs_item_features: ClassVar[bool] = True
    reads_interactions: ClassVar[bool] = False  # ``fit`` reads only the matrix's shape
    artifact_arrays: ClassVar[tuple[str, ...]] = (
        "similarity",
        "item_vectors",
        "vocabulary",
        "idf",
    )
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "similarity": ("n_items", "n_items"),
        "item_vectors": ("n_items", None),
    }

    def __init__(
        self,
        n_neighbors: int = 50,
        text_weight: float = 1.0,
        category_weight: float = 0.5,
        brand_weight: float = 0.3,
        price_weight: float = 0.2,
        feature_weight: float = 1.0,
        bigrams: bool = True,
        min_df: int = 1,
        max_features: int = 200_000,
        price_band_ratio: float = 1.5,
        random_state: int | None = None,
    ) -> None:
        weights = (text_weight, category_weight, brand_weight, price_weight, feature_weight)
        if min(weights) < 0 or not np.all(np.isfinite(weights)):
            raise ValueError(f"block weights must be finite and >= 0, got {weights}")
        if n_neighbors < 1 or min_df < 1 or max_features < 1:
            raise ValueError("n_neighbors, min_df and max_features must be >= 1")
        if not price_band_ratio > 1:
            raise ValueError(f"price_band_ratio must be > 1, got {price_band_ratio}")
        self.n_neighbors = int(n_neighbors)
        self.text_weight = float(text_weight)
        self.category_weight = float(category_weight)
        self.brand_weight = float(brand_weight)
        self.price_weight = float(price_weight)
        self.feature_weight = float(feature_weight)
        self.bigrams = bool(bigrams)
        self.min_df = int(min_df)
        self.max_features = int(max_features)
        self.price_band_ratio = float(price_band_ratio)
        self.random_state = random_state
        self.similarity = sp.csr_matrix((0, 0), dtype=FLOAT)
        self.item_vectors = sp.csr_matrix((0, 0), dtype=FLOAT)
        self.vocabulary = np.array([], dtype="<U1")
        self.idf = np.array([], dtype=FLOAT)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "text_weight": self.text_weight,
            "category_weight": self.category_weight,
            "brand_weight": self.brand_weight,
            "price_weight": self.price_weight,
            "feature_weight": self.feature_weight,
            "bigrams": self.bigrams,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "price_band_ratio": self.price_band_ratio,
            "random_state": self.random_state,
        }

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> ContentModel:
        """Fitted on the contract's item feature matrix (no text)."""
        return cls(n_neighbors=5).fit(user_items, item_features=fixtures["item_features"])

    # -- training -------------------------------------------------------------
    def fit(
        self,
        user_items: sp.csr_matrix,
        *,
        item_texts: Sequence[str] | None = None,
        item_categories: Sequence[Any] | None = None,
        item_brands: Sequence[Any] | None = None,
        item_prices: Sequence[float] | np.ndarray | None = None,
        item_features: sp.spmatrix | np.ndarray | None = None,
    ) -> ContentModel:
        """Build item vectors and each item's top ``n_neighbors`` by cosine.

        Parameters
        ----------
        user_items : csr_matrix, shape (n_users, n_items)
            Only its shape is used: items are column indices, as for every model.
        item_texts : sequence of str, length n_items
            Title and description per product ("" when unknown). Repeat the title to weigh it up.
        item_categories, item_brands : sequences, length n_items
            Labels (any hashable; None or "" = unknown).
        item_prices : floats, length n_items
            Prices (NaN or <= 0 = unknown).
        item_features : sparse or dense matrix, shape (n_items, n_features)
            Any further non-negative features, used as one more block.

        Returns
        -------
        self
        """
        X = check_user_items(user_items)
        n_users, n_items = X.shape
        sources = (item_texts, item_categories, item_brands, item_prices, item_features)
        if all(source is None for source in sources):
            raise ValueError(
                "ContentModel needs item_texts, item_categories, item_brands, item_prices "
                "or item_features"
            )
        blocks: list[sp.csr_matrix] = []
        vocabulary = np.array([], dtype="<U1")
        idf = np.array([], dtype=FLOAT)
        if item_texts is not None:
            texts = _check_length("item_texts", item_texts, n_items)
            text_block, vocabulary, idf = tfidf(
                texts, bigrams=self.bigrams, min_df=self.min_df, max_features=self.max_features
            )
        else:
            text_block = sp.csr_matrix((n_items, 0), dtype=FLOAT)
        # The text block always comes first: query_vector scores against its columns.
        blocks.append(normalize_rows(text_block) * np.sqrt(self.text_weight))
        # Attribute blocks are also kept as codes: the neighbour search scores them
        # analytically (w·[same label], w·P(band gap)) instead of through the sparse product.
        attributes = Attributes(labels=[], weights=[], bands=None, price_weight=0.0)
        for labels, weight, name in (
            (item_categories, self.category_weight, "item_categories"),
            (item_brands, self.brand_weight, "item_brands"),
        ):
            if labels is not None:
                codes = label_codes(_check_length(name, labels, n_items))
                blocks.append(one_hot_codes(codes) * np.sqrt(weight))
                if weight > 0:
                    attributes.labels.append(codes)
                    attributes.weights.append(weight)
        if item_prices is not None:
            prices = np.asarray(_check_length("item_prices", item_prices, n_items), np.float64)
            bands = band_codes(prices, self.price_band_ratio)
            blocks.append(price_bands(bands) * np.sqrt(self.price_weight))
            if self.price_weight > 0:
                attributes.bands, attributes.price_weight = bands, self.price_weight
        if item_features is not None:
            features = sp.csr_matrix(item_features, dtype=FLOAT)
            if features.shape[0] != n_items:
                raise ValueError(f"item_features has {features.shape[0]} rows for {n_items} items")
            if features.nnz and (features.data.min() < 0 or not np.isfinite(features.data).all()):
                raise ValueError("item_features must be finite and non-negative")
            blocks.append(normalize_rows(features) * np.sqrt(self.feature_weight))
        raw = sp.hstack(blocks, format="csr", dtype=FLOAT)
        vectors = normalize_rows(raw)
        # Columns scored by sparse product: the text block and the feature block.
        widths = np.array([block.shape[1] for block in blocks])
        edges = np.concatenate([[0], np.cumsum(widths)])
        sparse_columns = np.arange(edges[1])
        if item_features is not None:
            sparse_columns = np.concatenate([sparse_columns, np.arange(edges[-2], edges[-1])])
        self.item_vectors = vectors
        self.vocabulary, self.idf = vocabulary, idf
        # a_i = 1 / ‖unnormalised v_i‖ (0 for an item without any feature)
        norms = row_norms(raw)
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        self.similarity = neighbours(vectors, sparse_columns, attributes, scale, self.n_neighbors)
        self.n_users, self.n_items = n_users, n_items
        self._after_load()
        return self

    def _after_load(self) -> None:
        self.similarity = sp.csr_matrix(self.similarity, dtype=FLOAT)
        self.item_vectors = sp.csr_matrix(self.item_vectors, dtype=FLOAT)
        self.vocabulary = np.asarray(self.vocabulary)
        self.idf = np.asarray(self.idf, dtype=FLOAT)
        # The text part of each item vector, renormalised, so queries score a plain cosine.
        self._item_text = normalize_rows(self.item_vectors[:, : self.vocabulary.size])

    # -- scoring --------------------------------------------------------------
    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores r @ S, shape (n_rows, n_items): each touched item votes for its content
        neighbours with (event weight × cosine)."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        return np.asarray((rows @ self.similarity).toarray(), dtype=FLOAT)

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """r @ S for one shopper, shape (n_items,), summed straight from the rows of S."""
        self._require_fitted()
        item_ids, weights = self.request_pairs(item_ids, weights)
        return sparse_rows_sum(self.similarity, item_ids, weights)

    def query_vector(self, text: str) -> np.ndarray:
        """Cosine between a search query's tf-idf vector and each item's text.

        Parameters
        ----------
        text : str
            What the shopper typed.

        Returns
        -------
        float32 array, shape (n_items,): zeros when no query term is in the vocabulary.
        """
        self._require_fitted()
        query_terms = np.array(terms(text, self.bigrams), dtype=str)
        scores = np.zeros(self.n_items, dtype=FLOAT)
        if query_terms.size == 0 or self.vocabulary.size == 0:
            return scores
        position = np.searchsorted(self.vocabulary, query_terms)
        position[position == self.vocabulary.size] = 0
        known = self.vocabulary[position] == query_terms
        if not known.any():
            return scores
        term_ids, counts = np.unique(position[known], return_counts=True)
        # q_t = (1 + log count_t)·idf_t, then unit length
        q = (1 + np.log(counts)) * self.idf[term_ids]
        q /= np.linalg.norm(q)
        return np.asarray(self._item_text[:, term_ids] @ q, dtype=FLOAT).ravel()

    def search(self, text: str, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items for a search query; ids -1 past the last matching item."""
        scores = self.query_vector(text)
        scores[scores <= 0] = -np.inf
        ids, top = top_k(scores, n)
        return ids[0], top[0]

    def item_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """Content cosine of ``item_id`` with each of ``other_ids`` (exact, not only top-N)."""
        self._require_fitted()
        other_ids = check_ids(other_ids, upper=self.n_items, name="other_ids")
        item_id = int(check_ids(item_id, upper=self.n_items, name="item_id")[0])
        target = self.item_vectors[item_id].T
        return np.asarray((self.item_vectors[other_ids] @ target).toarray(), FLOAT).ravel()

    def text_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """Cosine of the text blocks (tf-idf of title and description) of ``item_id`` and each of
        ``other_ids``, as ``query_vector`` scores the item's own text; 0 without shared terms."""
        self._require_fitted()
        other_ids = check_ids(other_ids, upper=self.n_items, name="other_ids")
        item_id = int(check_ids(item_id, upper=self.n_items, name="item_id")[0])
        return sparse_row_dots(self._item_text, item_id, other_ids)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items closest in content to each of ``item_ids``, never the item itself.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n); ids -1 (score -inf) past the last
            item with any shared feature.
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        cosine = (self.item_vectors[item_ids] @ self.item_vectors.T).toarray().astype(FLOAT)
        cosine[cosine <= 0] = -np.inf
        itself = sp.csr_matrix(
            (np.ones(item_ids.size), (np.arange(item_ids.size), item_ids)), shape=cosine.shape
        )
        return top_k(cosine, n, exclude=itself)


def _check_length(name: str, values: Sequence[Any] | np.ndarray, n_items: int) -> Sequence[Any]:
    if len(values) != n_items:
        raise ValueError(f"{name} has {len(values)} entries for {n_items} items")
    return values
