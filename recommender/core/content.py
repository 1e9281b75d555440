"""Content-based item similarity from product text and attributes.

Each product becomes one sparse vector made of blocks, each block L2-normalised and scaled by
√weight:

    v_i = [√w_text·tfidf(title + description), √w_cat·onehot(category), √w_brand·onehot(brand),
           √w_price·band(log price), √w_feat·extra features]

so after a final L2 normalisation the cosine of two products that both have every block is the
weighted mean of the block cosines. TF-IDF: sublinear tf (1 + log tf), smoothed idf
log((1 + n) / (1 + df)) + 1, unigrams plus bigrams of the kept tokens. The vocabulary and idf
are saved with the model, so a shopper's search query can be vectorised after ``load``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import (
    FLOAT,
    Recommender,
    check_ids,
    check_user_items,
    sparse_rows_sum,
)
from recommender.core.ranking import top_k

# English function words: they say nothing about a product.
_STOP_WORDS_TEXT = """
a about above after again against all also am an and any are as at be been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just me more most my no nor not now of off on once only or other our ours out over own
same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom
why will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_TOKEN = re.compile(r"[^\W_]+")
_TOKEN_OR_SEPARATOR = re.compile(r"[^\W_]+|\0")
# Byte table keeping ASCII letters, digits and NUL and turning every other byte into a space.
_ASCII_TOKEN_BYTES = bytes(b if chr(b).isalnum() or b == 0 else 32 for b in range(256))
# Dense rows per block while ranking neighbours: block × n_items float32 stays ~16 MB.
_BLOCK_CELLS = 4_000_000


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric runs (any script), without stop words and one-letter tokens.

    >>> tokenize("The Red-Wool Scarf, 2 pack")
    ['red', 'wool', 'scarf', '2', 'pack']
    """
    return [
        token
        for token in _TOKEN.findall(text.lower())
        if token not in STOP_WORDS and (len(token) > 1 or token.isdigit())
    ]


def terms(text: str, bigrams: bool = True) -> list[str]:
    """Tokens of ``text`` plus, when ``bigrams``, each adjacent pair joined by a space."""
    tokens = tokenize(text)
    if not bigrams:
        return tokens
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


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
    artifact_arrays: ClassVar[tuple[str, ...]] = (
        "similarity",
        "item_vectors",
        "vocabulary",
        "idf",
    )

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
            text_block, vocabulary, idf = self._tfidf(texts)
        else:
            text_block = sp.csr_matrix((n_items, 0), dtype=FLOAT)
        # The text block always comes first: query_vector scores against its columns.
        blocks.append(_normalize_rows(text_block) * np.sqrt(self.text_weight))
        for labels, weight, name in (
            (item_categories, self.category_weight, "item_categories"),
            (item_brands, self.brand_weight, "item_brands"),
        ):
            if labels is not None:
                onehot = _one_hot(_check_length(name, labels, n_items))
                blocks.append(onehot * np.sqrt(weight))
        if item_prices is not None:
            prices = np.asarray(_check_length("item_prices", item_prices, n_items), np.float64)
            blocks.append(self._price_bands(prices) * np.sqrt(self.price_weight))
        if item_features is not None:
            features = sp.csr_matrix(item_features, dtype=FLOAT)
            if features.shape[0] != n_items:
                raise ValueError(f"item_features has {features.shape[0]} rows for {n_items} items")
            if features.nnz and (features.data.min() < 0 or not np.isfinite(features.data).all()):
                raise ValueError("item_features must be finite and non-negative")
            blocks.append(_normalize_rows(features) * np.sqrt(self.feature_weight))
        vectors = _normalize_rows(sp.hstack(blocks, format="csr", dtype=FLOAT))
        self.item_vectors = vectors
        self.vocabulary, self.idf = vocabulary, idf
        self.similarity = self._neighbours(vectors)
        self.n_users, self.n_items = n_users, n_items
        self._after_load()
        return self

    def _tfidf(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """tf-idf rows, sorted vocabulary and idf for the product texts."""
        # Tokens become integer ids (one regex pass over the catalog, one dict look-up per
        # token), bigrams are pairs of those ids, and strings are built only for kept terms.
        n = len(texts)
        token_ids, item_ids, words = _token_ids([str(text or "") for text in texts])
        if token_ids.size == 0:
            return sp.csr_matrix((n, 0), dtype=FLOAT), np.array([], str), np.array([], FLOAT)
        n_words = len(words)
        term_ids, term_items = token_ids, item_ids
        pair_codes = np.array([], dtype=np.int64)
        if self.bigrams and token_ids.size > 1:
            # bigram (a, b) of adjacent tokens of one product, coded a·n_words + b
            inside = item_ids[1:] == item_ids[:-1]
            pairs = token_ids[:-1][inside] * n_words + token_ids[1:][inside]
            pair_codes, pair_ids = np.unique(pairs, return_inverse=True)
            term_ids = np.concatenate([token_ids, n_words + pair_ids.ravel()])
            term_items = np.concatenate([item_ids, item_ids[1:][inside]])
        n_terms = n_words + pair_codes.size
        counts = sp.csr_matrix(
            (np.ones(term_ids.size, dtype=FLOAT), (term_items, term_ids)), shape=(n, n_terms)
        )
        counts.sum_duplicates()
        df = np.bincount(counts.indices, minlength=n_terms)

        # Alphabetical order without building strings: the words are sorted and a space sorts
        # before every token character, so "a b" orders like the pair (rank a, rank b) and a
        # unigram "a" like (rank a, -1).
        first = np.concatenate([np.arange(n_words), pair_codes // n_words])
        second = np.concatenate([np.full(n_words, -1), pair_codes % n_words])
        alphabetical = first * (n_words + 1) + second + 1
        keep = np.flatnonzero(df >= self.min_df)
        if keep.size > self.max_features:
            # Most widespread first; ties broken by the term's alphabetical position.
            keep = keep[np.lexsort((alphabetical[keep], -df[keep]))[: self.max_features]]
        keep = keep[np.argsort(alphabetical[keep])]
        word_array = np.array(words, dtype=str)
        heads, tails = word_array[first[keep]], word_array[np.maximum(second[keep], 0)]
        bigram = np.strings.add(np.strings.add(heads, " "), tails)
        vocabulary = np.where(second[keep] >= 0, bigram, heads)
        counts, df = counts[:, keep], df[keep]
        # idf_t = log((1 + n) / (1 + df_t)) + 1;  tf = 1 + log(count)
        idf = (np.log((1 + n) / (1 + df)) + 1).astype(FLOAT)
        counts.data = (1 + np.log(counts.data)) * idf[counts.indices]
        return counts.tocsr(), vocabulary, idf

    def _price_bands(self, prices: np.ndarray) -> sp.csr_matrix:
        """One-hot log-price band, with half weight on both neighbouring bands, L2-normalised."""
        known = np.isfinite(prices) & (prices > 0)
        items = np.flatnonzero(known)
        # band = floor(log(price) / log(ratio))
        band = np.floor(np.log(prices[known]) / np.log(self.price_band_ratio)).astype(np.int64)
        spread = np.concatenate([band - 1, band, band + 1])
        columns, column_ids = np.unique(spread, return_inverse=True)
        weights = np.repeat(np.array([0.5, 1.0, 0.5], dtype=FLOAT), band.size)
        bands = sp.csr_matrix(
            (weights, (np.tile(items, 3), column_ids)), shape=(prices.size, columns.size)
        )
        return _normalize_rows(bands)

    def _neighbours(self, vectors: sp.csr_matrix) -> sp.csr_matrix:
        """Top ``n_neighbors`` cosines per item (positive only, never the item itself)."""
        n_items = vectors.shape[0]
        vectors_t = vectors.T.tocsr()
        step = max(1, _BLOCK_CELLS // max(n_items, 1))
        k = min(self.n_neighbors, max(n_items - 1, 1))
        rows, cols, vals = [], [], []
        for start in range(0, n_items, step):
            stop = min(start + step, n_items)
            cosine = (vectors[start:stop] @ vectors_t).toarray()
            cosine[cosine <= 0] = -np.inf
            itself = sp.csr_matrix(
                (np.ones(stop - start), (np.arange(stop - start), np.arange(start, stop))),
                shape=cosine.shape,
            )
            ids, scores = top_k(cosine, k, exclude=itself)
            kept = ids >= 0
            rows.append(np.nonzero(kept)[0] + start)
            cols.append(ids[kept])
            vals.append(scores[kept])
        similarity = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
            dtype=FLOAT,
        )
        similarity.sort_indices()
        return similarity

    def _after_load(self) -> None:
        self.similarity = sp.csr_matrix(self.similarity, dtype=FLOAT)
        self.item_vectors = sp.csr_matrix(self.item_vectors, dtype=FLOAT)
        self.vocabulary = np.asarray(self.vocabulary)
        self.idf = np.asarray(self.idf, dtype=FLOAT)
        # The text part of each item vector, renormalised, so queries score a plain cosine.
        self._item_text = _normalize_rows(self.item_vectors[:, : self.vocabulary.size])

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


def _token_ids(texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``tokenize`` over many texts at once: token ids (into the sorted distinct ``words``)
    and the text each token comes from, in reading order.

    One regex pass over the texts joined by a NUL separator; stop words and one-letter tokens
    are dropped per distinct word instead of per token.
    """
    joined = "\0".join(texts).lower()
    if joined.count("\0") != max(len(texts) - 1, 0):
        # A text holds NUL itself: tokenise text by text (a NUL is no token character).
        raw = [[*_TOKEN.findall(text.lower()), "\0"] for text in texts]
        flat = list(itertools.chain.from_iterable(raw))
    elif joined.isascii():
        # ASCII tokens are runs of [a-z0-9]: a byte translation and split, ~5x the regex.
        spaced = joined.encode("ascii").translate(_ASCII_TOKEN_BYTES).replace(b"\0", b" \0 ")
        flat = spaced.decode("ascii").split()
    else:
        flat = _TOKEN_OR_SEPARATOR.findall(joined)
    words = sorted(dict.fromkeys(flat))
    word_id = {word: k for k, word in enumerate(words)}
    ids = np.fromiter(map(word_id.__getitem__, flat), dtype=np.int64, count=len(flat))
    del flat, word_id
    separator = np.array([word == "\0" for word in words])
    kept = np.array(
        [w not in STOP_WORDS and (len(w) > 1 or w.isdigit()) and w != "\0" for w in words],
        dtype=bool,
    )
    item_of = np.cumsum(separator[ids]) - separator[ids]
    mask = kept[ids] if kept.size else np.zeros(0, dtype=bool)
    # Renumber the kept words so ids index the kept (still sorted) word list.
    new_id = np.cumsum(kept) - 1
    words = [w for w, k in zip(words, kept.tolist(), strict=True) if k]
    return new_id[ids[mask]], item_of[mask], words


def _check_length(name: str, values: Sequence[Any] | np.ndarray, n_items: int) -> Sequence[Any]:
    if len(values) != n_items:
        raise ValueError(f"{name} has {len(values)} entries for {n_items} items")
    return values


def _one_hot(labels: Sequence[Any]) -> sp.csr_matrix:
    """One column per distinct label; None, NaN and "" give an empty row."""
    text = np.array(["" if label is None else str(label) for label in labels], dtype=str)
    known = (text != "") & (text != "nan")
    columns, column_ids = np.unique(text[known], return_inverse=True)
    items = np.flatnonzero(known)
    return sp.csr_matrix(
        (np.ones(items.size, dtype=FLOAT), (items, column_ids)), shape=(text.size, columns.size)
    )


def _normalize_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty)."""
    matrix = sp.csr_matrix(matrix, dtype=FLOAT)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(FLOAT)
    return sp.csr_matrix(sp.diags(scale) @ matrix, dtype=FLOAT)
