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

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
from recommender.core.kernels import flop_blocks, top_per_row
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
# Dense rows per block where a row is computed in full: block × n_items float32 stays ~16 MB.
_BLOCK_CELLS = 4_000_000
# Up to this many items every row is ranked densely: below ~10k products that is the faster way.
_ALL_DENSE_ITEMS = 8_000
# The sparse product covers the rarer text columns, Σ df² <= this × n_items multiply-adds; the
# most widespread columns (low idf) are bounded instead (see ContentModel._neighbours).
_RARE_FLOPS_PER_ITEM = 3_000
# The label scored exactly within its groups (see ContentModel._neighbours) is the heaviest one
# whose groups hold at most this many × n_items pairs.
_SCOPE_PAIRS_PER_ITEM = 4_000
# Attribute lists over shared labels hold this many × k items (see _attribute_lists).
_LABEL_LIST_FACTOR = 4
# Pairs expanded at once while ranking attribute lists.
_LIST_PAIRS = 4_000_000
# Band of an item without a known price.
_NO_BAND = np.iinfo(np.int64).min
# Cosine of two price-band vectors [.5, 1, .5]/‖·‖ whose bands are 0, 1, 2, >= 3 apart.
_BAND_COSINE = np.array([1.0, 2.0 / 3.0, 1.0 / 6.0, 0.0])


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
            text_block, vocabulary, idf = self._tfidf(texts)
        else:
            text_block = sp.csr_matrix((n_items, 0), dtype=FLOAT)
        # The text block always comes first: query_vector scores against its columns.
        blocks.append(_normalize_rows(text_block) * np.sqrt(self.text_weight))
        # Attribute blocks are also kept as codes: the neighbour search scores them
        # analytically (w·[same label], w·P(band gap)) instead of through the sparse product.
        attributes = _Attributes(labels=[], weights=[], bands=None, price_weight=0.0)
        for labels, weight, name in (
            (item_categories, self.category_weight, "item_categories"),
            (item_brands, self.brand_weight, "item_brands"),
        ):
            if labels is not None:
                codes = _label_codes(_check_length(name, labels, n_items))
                blocks.append(_one_hot_codes(codes) * np.sqrt(weight))
                if weight > 0:
                    attributes.labels.append(codes)
                    attributes.weights.append(weight)
        if item_prices is not None:
            prices = np.asarray(_check_length("item_prices", item_prices, n_items), np.float64)
            bands = self._band_codes(prices)
            blocks.append(self._price_bands(bands) * np.sqrt(self.price_weight))
            if self.price_weight > 0:
                attributes.bands, attributes.price_weight = bands, self.price_weight
        if item_features is not None:
            features = sp.csr_matrix(item_features, dtype=FLOAT)
            if features.shape[0] != n_items:
                raise ValueError(f"item_features has {features.shape[0]} rows for {n_items} items")
            if features.nnz and (features.data.min() < 0 or not np.isfinite(features.data).all()):
                raise ValueError("item_features must be finite and non-negative")
            blocks.append(_normalize_rows(features) * np.sqrt(self.feature_weight))
        raw = sp.hstack(blocks, format="csr", dtype=FLOAT)
        vectors = _normalize_rows(raw)
        # Columns scored by sparse product: the text block and the feature block.
        widths = np.array([block.shape[1] for block in blocks])
        edges = np.concatenate([[0], np.cumsum(widths)])
        sparse_columns = np.arange(edges[1])
        if item_features is not None:
            sparse_columns = np.concatenate([sparse_columns, np.arange(edges[-2], edges[-1])])
        self.item_vectors = vectors
        self.vocabulary, self.idf = vocabulary, idf
        # a_i = 1 / ‖unnormalised v_i‖ (0 for an item without any feature)
        norms = _row_norms(raw)
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        self.similarity = self._neighbours(vectors, sparse_columns, attributes, scale)
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

    def _band_codes(self, prices: np.ndarray) -> np.ndarray:
        """Log-price band per item, ``_NO_BAND`` when the price is unknown (NaN or <= 0)."""
        known = np.isfinite(prices) & (prices > 0)
        bands = np.full(prices.size, _NO_BAND, dtype=np.int64)
        # band = floor(log(price) / log(ratio))
        bands[known] = np.floor(np.log(prices[known]) / np.log(self.price_band_ratio))
        return bands

    def _price_bands(self, bands: np.ndarray) -> sp.csr_matrix:
        """One-hot log-price band, with half weight on both neighbouring bands, L2-normalised."""
        items = np.flatnonzero(bands != _NO_BAND)
        band = bands[items]
        spread = np.concatenate([band - 1, band, band + 1])
        columns, column_ids = np.unique(spread, return_inverse=True)
        weights = np.repeat(np.array([0.5, 1.0, 0.5], dtype=FLOAT), band.size)
        matrix = sp.csr_matrix(
            (weights, (np.tile(items, 3), column_ids.ravel())), shape=(bands.size, columns.size)
        )
        return _normalize_rows(matrix)

    def _neighbours(
        self,
        vectors: sp.csr_matrix,
        sparse_columns: np.ndarray,
        attributes: _Attributes,
        scale: np.ndarray,
    ) -> sp.csr_matrix:
        """Top ``n_neighbors`` cosines per item (positive only, never the item itself).

        The cosine of unit vectors v_i = a_i·[x̃_i, attribute blocks] splits as

            s_ij = x_i·x_j + a_i a_j g_ij,    g_ij = Σ_L w_L [L_i = L_j] + w_price P(|Δband|)

        with x_i = a_i x̃_i the text and feature columns, a_i = 1 / ‖unnormalised v_i‖ and
        P = 1, 2/3, 1/6, 0 for band gaps 0, 1, 2, >= 3. Nothing n × n is formed:

        * the *scope*: every pair sharing the heaviest label (the category, by default) is
          scored exactly, group by group (a sparse text product plus g_ij from the codes).
          That is where most neighbours are, and the pairs closest to the k-th one: on the
          synthetic 50k catalogue no bound separated them, so half the rows went dense;
        * pairs sharing a *rare* text column (all but the most widespread ones, chosen so that
          Σ df² stays within ``_RARE_FLOPS_PER_ITEM`` × n_items) come from a blocked sparse
          product; each is bounded first (its rare dot product, the most g_ij can be outside
          the scope, then g_ij itself and ‖x^C_i‖ ‖x^C_j‖ for the common columns) and scored
          exactly only if it could reach the k-th exact score found so far;
        * the other label sets S come from short lists (``_attribute_lists``) of the best
          items sharing S; members whose labels agree with the item's on exactly S are bounded
          the same way (a_i a_j g_ij + ‖x^C_i‖ ‖x^C_j‖: the ones with a rare column in common
          are the pairs above) and scored exactly if they could reach the k-th;
        * every other pair is bounded by Cauchy-Schwarz on the common columns plus the tail of
          the attribute list of its own label set (see ``bound``).

        An item whose k-th neighbour cannot be proved above that bound has its row computed
        densely, so the result is exact either way.
        """
        n_items = vectors.shape[0]
        k = min(self.n_neighbors, n_items - 1)
        if k < 1:
            return sp.csr_matrix((n_items, n_items), dtype=FLOAT)
        if n_items <= _ALL_DENSE_ITEMS:
            rows, cols, vals = self._dense_neighbours(vectors, np.arange(n_items), k)
            return _assemble(rows, cols, vals, n_items)
        X = vectors[:, sparse_columns].tocsr()
        a = scale
        rare, common = _split_by_spread(X, _RARE_FLOPS_PER_ITEM * n_items)
        X_rare, X_common = X[:, rare].tocsr(), X[:, common].tocsr()
        common_norm = _row_norms(X_common)
        scope = _scope_label(attributes, n_items)
        lists = _attribute_lists(attributes, a, k, skip=scope)
        tail = np.zeros(n_items)
        for found in lists:
            has = found.query >= 0
            tail[has] = np.maximum(tail[has], found.tail[found.query[has]])
        # Every pair outside the candidates scores at most this: no rare column in common, no
        # scope label in common, and below the tail of the list of its own label set.
        bound = common_norm * common_norm.max(initial=0.0) + a * tail
        exact = _scope_pairs(X, attributes, a, k, scope)
        # Most g_ij a pair outside the scope can get: every other label and the same band.
        g_out = sum(w for b, w in enumerate(attributes.weights) if b != scope)
        if attributes.bands is not None:
            g_out += attributes.price_weight
        price = attributes.price_weight if attributes.bands is not None else 0.0
        common_max, a_max = common_norm.max(initial=0.0), a.max(initial=0.0)
        scope_codes = attributes.labels[scope] if scope is not None else None
        X_rare_t = X_rare.T.tocsr()
        parts, dense_rows = [], []
        for start, stop in itertools.pairwise(flop_blocks(X_rare_t, n_items).tolist()):
            r, c, v = top_per_row(
                *_block_entries(exact, start, stop), n_rows=stop - start, n_cols=n_items, k=k
            )
            kth = _kth(r, v, stop - start, k)
            G = X_rare[start:stop] @ X_rare_t
            counts = np.diff(G.indptr)
            short = kth == 0
            if short.any():
                # Fewer than k exact candidates (no scope label, small groups): the k-th best
                # lower bound x^R_i·x^R_j + a_i a_j g_ij over the rare candidates stands in.
                some = np.flatnonzero(np.repeat(short, counts))
                rows = np.searchsorted(G.indptr, some, side="right") - 1
                cols, i = G.indices[some].astype(np.int64), rows + start
                low = G.data[some] + a[i] * a[cols] * attributes.score(i, cols)
                low[cols == i] = 0
                lr, _, lv = top_per_row(rows, cols, low, n_rows=stop - start, n_cols=n_items, k=k)
                kth = np.maximum(kth, _kth(lr, lv, stop - start, k))
            # A first cut on the rare dot product, against the most the rest can add: the
            # common columns and the price band at most, plus the labels the pair shares,
            # looked up only where the band alone cannot rule the pair out. A hair looser
            # than the exact test below, and rounded down to float32 (G's type) for the bulk.
            target = (kth - 1e-7) / (1 + 1e-5) - common_norm[start:stop] * common_max - 1e-12
            most_a = a[start:stop] * a_max
            sure = np.nextafter((target - most_a * price).astype(FLOAT), FLOAT(-np.inf))
            passed = G.data >= np.repeat(sure, counts)
            row_of = np.repeat(np.arange(stop - start), counts)
            if g_out > price:
                least = np.nextafter((target - most_a * g_out).astype(FLOAT), FLOAT(-np.inf))
                maybe = np.flatnonzero(~passed & (G.data >= np.repeat(least, counts)))
                mrows, mcols = row_of[maybe], G.indices[maybe]
                g = np.full(maybe.size, price)
                for b, codes in enumerate(attributes.labels):
                    if b != scope:
                        mine = codes[start + mrows]
                        g += attributes.weights[b] * ((codes[mcols] == mine) & (mine >= 0))
                passed[maybe[G.data[maybe] >= target[mrows] - most_a[mrows] * g]] = True
            some = np.flatnonzero(passed)
            rows = row_of[some]
            cols, rare_dot = G.indices[some].astype(np.int64), G.data[some].astype(np.float64)
            i = rows + start
            keep = cols != i
            if scope_codes is not None:
                # Scope pairs are already scored exactly.
                keep &= (scope_codes[cols] != scope_codes[i]) | (scope_codes[i] < 0)
            rows, cols, rare_dot, i = rows[keep], cols[keep], rare_dot[keep], i[keep]
            # lower bound without the common columns: x^R_i·x^R_j + a_i a_j g_ij
            low = rare_dot + a[i] * a[cols] * attributes.score(i, cols)
            high = low + common_norm[i] * common_norm[cols]
            keep = high * (1 + 1e-5) + 1e-7 >= kth[rows]
            rows, cols, low = rows[keep], cols[keep], low[keep]
            scores = low + _pair_dots(X_common, rows + start, cols)
            # List members, bounded as if they had no rare column in common: those that do
            # are among the pairs just scored, or below the k-th exact score already.
            found = [np.concatenate([r, rows])]
            found_cols, found_scores = [np.concatenate([c, cols])], [v, scores]
            known = np.sort((rows + start) * n_items + cols)
            for listed in lists:
                w_S = sum(attributes.weights[b] for b in listed.labels)
                if attributes.bands is not None:
                    w_S += attributes.price_weight
                most = a_max * w_S * a[start:stop] + common_norm[start:stop] * common_max
                items = start + np.flatnonzero(most * (1 + 1e-5) + 1e-7 >= kth)
                li, lj = _list_pairs(listed, attributes, items)
                low = a[li] * a[lj] * attributes.score(li, lj)
                keep = (low + common_norm[li] * common_norm[lj]) * (1 + 1e-5) + 1e-7 >= kth[
                    li - start
                ]
                li, lj, low = li[keep], lj[keep], low[keep]
                # Drop the pairs the rare product already gave (scored the same way).
                new = li * n_items + lj
                at = np.minimum(np.searchsorted(known, new), max(known.size - 1, 0))
                fresh = known[at] != new if known.size else np.ones(new.size, dtype=bool)
                li, lj, low = li[fresh], lj[fresh], low[fresh]
                found.append(li - start)
                found_cols.append(lj)
                found_scores.append(low + _pair_dots(X, li, lj))
            r, c, v = top_per_row(
                np.concatenate(found),
                np.concatenate(found_cols),
                np.concatenate([f.astype(np.float64) for f in found_scores]),
                n_rows=stop - start,
                n_cols=n_items,
                k=k,
            )
            kth = _kth(r, v, stop - start, k)
            # Proved: nothing outside the candidates reaches the k-th exact score (or nothing
            # outside scores above 0 at all). Slack covers float32 rounding.
            proved = (bound[start:stop] * (1 + 1e-5) + 1e-7 < kth) | (bound[start:stop] == 0)
            late = np.flatnonzero(~proved & (kth > 0))
            if late.size and lists:
                # Unproved rows walk further down their pools, as far as a member could still
                # reach the k-th score; the rest of each pool is then bounded by the next one.
                rest, (wr, wc, ws) = _widen(
                    lists,
                    attributes,
                    a,
                    start + late,
                    kth[late],
                    common_norm,
                    X_common,
                    np.sort((r + start) * n_items + c),
                    n_items,
                )
                r, c, v = top_per_row(
                    np.concatenate([r, wr - start]),
                    np.concatenate([c, wc]),
                    np.concatenate([v.astype(np.float64), ws]),
                    n_rows=stop - start,
                    n_cols=n_items,
                    k=k,
                )
                kth = _kth(r, v, stop - start, k)
                late_bound = common_norm[start + late] * common_max + a[start + late] * rest
                proved[late] = late_bound * (1 + 1e-5) + 1e-7 < kth[late]
            dense_rows.append(start + np.flatnonzero(~proved))
            keep = proved[r]
            parts.append((r[keep] + start, c[keep], v[keep]))
        parts.append(self._dense_neighbours(vectors, np.concatenate(dense_rows), k))
        rows, cols, vals = (np.concatenate([p[j] for p in parts]) for j in range(3))
        return _assemble(rows, cols, vals, n_items)

    @staticmethod
    def _dense_neighbours(
        vectors: sp.csr_matrix, items: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k cosines of ``items`` from their full rows of V Vᵀ (the fallback)."""
        n_items = vectors.shape[0]
        vectors_t = vectors.T.tocsr()
        step = max(1, _BLOCK_CELLS // max(n_items, 1))
        rows, cols, vals = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, FLOAT)]
        for start in range(0, items.size, step):
            chunk = items[start : start + step]
            cosine = (vectors[chunk] @ vectors_t).toarray()
            cosine[cosine <= 0] = -np.inf
            cosine[np.arange(chunk.size), chunk] = -np.inf
            ids, scores = top_k(cosine, k)
            kept = ids >= 0
            rows.append(chunk[np.nonzero(kept)[0]])
            cols.append(ids[kept])
            vals.append(scores[kept])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

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


def _label_codes(labels: Sequence[Any]) -> np.ndarray:
    """Dense code per distinct label (sorted as strings); None, NaN and "" give -1."""
    text = np.array(["" if label is None else str(label) for label in labels], dtype=str)
    known = (text != "") & (text != "nan")
    codes = np.full(text.size, -1, dtype=np.int64)
    codes[known] = np.unique(text[known], return_inverse=True)[1].ravel()
    return codes


def _one_hot_codes(codes: np.ndarray) -> sp.csr_matrix:
    """One column per label code; -1 gives an empty row."""
    items = np.flatnonzero(codes >= 0)
    return sp.csr_matrix(
        (np.ones(items.size, dtype=FLOAT), (items, codes[items])),
        shape=(codes.size, int(codes.max(initial=-1)) + 1),
    )


def _row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """‖row‖₂ per row, float64."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    squares = np.bincount(
        rows, weights=matrix.data.astype(np.float64) ** 2, minlength=matrix.shape[0]
    )
    return np.sqrt(squares)


@dataclass
class _Attributes:
    """Label codes (-1 unknown) with their block weights, and price bands with theirs."""

    labels: list[np.ndarray]
    weights: list[float]
    bands: np.ndarray | None
    price_weight: float

    def score(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """g_ij = Σ_L w_L [L_i = L_j known] + w_price P(|band_i - band_j|), float64; ``i`` and
        ``j`` broadcast."""
        g = np.zeros(np.broadcast_shapes(np.shape(i), np.shape(j)))
        for codes, weight in zip(self.labels, self.weights, strict=True):
            g += weight * ((codes[i] == codes[j]) & (codes[i] >= 0))
        if self.bands is not None:
            g += self.price_weight * _band_cosine(self.bands[i], self.bands[j])
        return g


def _band_cosine(band: np.ndarray, other: np.ndarray) -> np.ndarray:
    known = (band != _NO_BAND) & (other != _NO_BAND)
    gap = np.minimum(np.abs(np.where(known, band - other, 3)), 3)
    return _BAND_COSINE[gap]


@dataclass
class _AttributeList:
    """For one label set S (``labels``: indices of its label blocks): each item's list
    (``query``, -1 none) of the best items sharing S with it, lists stored CSR-like (``ptr``,
    ``items``), and ``tail``: the best value a pool member outside the list has (0 when the
    list holds the whole pool). ``pool_ptr``, ``pool_items``, ``pool_values``: the whole pool
    of each list, best first, with values, for the rows that need more than the list."""

    labels: tuple[int, ...]
    query: np.ndarray
    ptr: np.ndarray
    items: np.ndarray
    tail: np.ndarray
    pool_ptr: np.ndarray
    pool_items: np.ndarray
    pool_values: np.ndarray

    @functools.cached_property
    def pool_keys(self) -> tuple[np.ndarray, float, float]:
        """(keys, top, width): key (pool, top - value) sorts like the pools (best first), so
        one searchsorted finds how far down its pool each row may go."""
        top = max(float(self.pool_values.max(initial=0.0)), 1.0)
        width = 2.0 * top + 2.0
        segment = np.repeat(np.arange(self.pool_ptr.size - 1), np.diff(self.pool_ptr))
        return segment * width + (top - self.pool_values), top, width


def _attribute_lists(
    attributes: _Attributes, a: np.ndarray, k: int, skip: int | None = None
) -> list[_AttributeList]:
    """Per label set S (every subset of the label blocks without ``skip``; the empty set when
    prices count), the k + 1 best items by a_j (w_S + w_price P(band gap)) among those sharing
    S with the item.

    Items with the same labels in S and the same band share one list. Why k + 1 suffice: a pair
    (i, j) whose labels agree on exactly S, with no text in common, scores a_i a_j g_ij; if j is
    not in i's list for S, the k + 1 listed items (k without i) each score at least as much as
    j, and a higher-ranked tie, so j cannot be in i's top k. ``_neighbours`` scores the lists'
    members exactly and uses ``tail`` to bound the rest.
    """
    n = a.size
    bands = attributes.bands
    band = bands if bands is not None else np.full(n, _NO_BAND, dtype=np.int64)
    band_values, band_id = np.unique(band, return_inverse=True)
    band_id = band_id.ravel()
    found = []
    for mask in range(1 << len(attributes.labels)):
        members = [b for b in range(len(attributes.labels)) if mask >> b & 1]
        if skip in members:
            continue
        w_S = sum(attributes.weights[b] for b in members)
        if members:
            codes = np.stack([attributes.labels[b] for b in members], axis=1)
            known = (codes >= 0).all(axis=1)
            group = np.full(n, -1, dtype=np.int64)
            if known.any():
                group[known] = np.unique(codes[known], axis=0, return_inverse=True)[1].ravel()
        elif bands is not None and attributes.price_weight > 0:
            group = np.where(band != _NO_BAND, 0, -1)
        else:
            continue
        has = np.flatnonzero(group >= 0)
        if has.size == 0:
            continue
        # One list per (group, band) of the items that have the group.
        key = group[has] * (band_values.size + 1) + band_id[has]
        keys, inverse = np.unique(key, return_inverse=True)
        query = np.full(n, -1, dtype=np.int64)
        query[has] = inverse.ravel()
        q_group = keys // (band_values.size + 1)
        q_band = band_values[keys % (band_values.size + 1)]
        if members:
            # Pool: every member of the group, whatever its band.
            order = has[np.argsort(group[has], kind="stable")]
            group_ptr = np.concatenate([[0], np.cumsum(np.bincount(group[has]))])
            lo, hi = group_ptr[q_group], group_ptr[q_group + 1]
        else:
            # Pool: items priced within two bands (the others score 0).
            order = has[np.argsort(band[has], kind="stable")]
            sorted_band = band[order]
            lo = np.searchsorted(sorted_band, q_band - 2, side="left")
            hi = np.searchsorted(sorted_band, q_band + 2, side="right")
        # Longer lists for label sets: the tail, which bounds every pair left out, drops
        # below the k-th neighbour of more items, fewer of which then walk their pools further.
        size = max(k + 1, _LABEL_LIST_FACTOR * k) if members else k + 1
        ranked = _rank_lists(query, order, lo, hi, q_band, w_S, attributes, a, size)
        found.append(_AttributeList(tuple(members), *ranked))
    return found


def _rank_lists(
    query: np.ndarray,
    order: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q_band: np.ndarray,
    w_S: float,
    attributes: _Attributes,
    a: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best ``size`` of each list's pool ``order[lo:hi]`` by a_j (w_S + w_price P), its tail
    and the whole ranked pool: the fields of ``_AttributeList`` after ``labels``."""
    n = a.size
    n_lists = lo.size
    bits_col = max(int(n - 1).bit_length(), 1)
    max_rows = max(1, min(4096, 2 ** max(32 - bits_col, 0)))
    length = hi - lo
    items, counts, tail = [], np.zeros(n_lists, dtype=np.int64), np.zeros(n_lists)
    pool_items, pool_values, pool_counts = [], [], np.zeros(n_lists, dtype=np.int64)
    start = 0
    while start < n_lists:
        # As many lists as fit _LIST_PAIRS pairs (at least one) and the packed sort key.
        reach = np.searchsorted(np.cumsum(length[start:]), _LIST_PAIRS, side="right")
        stop = start + int(min(max(reach, 1), max_rows))
        pool = length[start:stop]
        rows = np.repeat(np.arange(stop - start), pool)
        offset = np.cumsum(pool) - pool
        cols = order[np.arange(pool.sum()) - np.repeat(offset - lo[start:stop], pool)]
        value = w_S
        if attributes.bands is not None:
            price = _band_cosine(q_band[start:stop][rows], attributes.bands[cols])
            value = w_S + attributes.price_weight * price
        value = a[cols] * value
        positive = value > 0
        r, c, v = top_per_row(
            rows[positive],
            cols[positive],
            value[positive],
            n_rows=stop - start,
            n_cols=n,
            k=max(int(pool.max(initial=0)), size + 1),
        )
        per_list = np.bincount(r, minlength=stop - start)
        pool_items.append(c)
        pool_values.append(v.astype(np.float64))
        pool_counts[start:stop] = per_list
        rank = np.arange(r.size) - np.repeat(np.cumsum(per_list) - per_list, per_list)
        listed = rank < size
        items.append(c[listed])
        counts[start:stop] = np.minimum(per_list, size)
        tail[start + r[rank == size]] = v[rank == size]
        start = stop
    ptr = np.concatenate([[0], np.cumsum(counts)])
    pool_ptr = np.concatenate([[0], np.cumsum(pool_counts)])
    return (
        query,
        ptr,
        np.concatenate(items),
        tail,
        pool_ptr,
        np.concatenate(pool_items),
        np.concatenate(pool_values),
    )


def _split_by_spread(X: sp.csr_matrix, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(rare, common) column indices: the common ones are the fewest most widespread columns
    leaving Σ df² over the rare ones (the cost of their Gram matrix) within ``budget``."""
    df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
    order = np.argsort(-df, kind="stable")
    # left[p] = Σ df² over order[p:]
    left = np.concatenate([np.cumsum((df[order] ** 2)[::-1])[::-1], [0.0]])
    split = int(np.argmax(left <= budget))
    return np.sort(order[split:]), np.sort(order[:split])


def _scope_label(attributes: _Attributes, n: int) -> int | None:
    """The heaviest label block whose groups hold at most ``_SCOPE_PAIRS_PER_ITEM`` × n pairs
    (None when there is none)."""
    best = None
    for b, codes in enumerate(attributes.labels):
        sizes = np.bincount(codes[codes >= 0]).astype(np.float64)
        if (sizes**2).sum() > _SCOPE_PAIRS_PER_ITEM * n:
            continue
        if best is None or attributes.weights[b] > attributes.weights[best]:
            best = b
    return best


def _scope_pairs(
    X: sp.csr_matrix, attributes: _Attributes, a: np.ndarray, k: int, scope: int | None
) -> sp.csr_matrix:
    """Exact s_ij, the best k per item, among the items sharing its ``scope`` label."""
    n = X.shape[0]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if scope is not None:
        codes = attributes.labels[scope]
        has = np.flatnonzero(codes >= 0)
        order = has[np.argsort(codes[has], kind="stable")]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(codes[has]))])
        for lo, hi in itertools.pairwise(ptr.tolist()):
            if hi - lo > 1:
                group = order[lo:hi]
                found.append(_exact_block(X, attributes, a, group, group, k))
    rows, cols, vals = (
        np.concatenate([np.empty(0, dtype), *(f[j] for f in found)])
        for j, dtype in enumerate((np.int64, np.int64, FLOAT))
    )
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=FLOAT)


def _exact_block(
    X: sp.csr_matrix,
    attributes: _Attributes,
    a: np.ndarray,
    queries: np.ndarray,
    members: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's best k positive s_ij over ``members`` (never itself), computed exactly:
    x_i·x_j by a sparse product, a_i a_j g_ij from the codes."""
    members_t = X[members].T.tocsr()
    step = max(1, _BLOCK_CELLS // members.size)
    take = min(k, members.size)
    rows, cols, vals = [], [], []
    for start in range(0, queries.size, step):
        q = queries[start : start + step]
        s = (X[q] @ members_t).toarray().astype(np.float64)
        i, j = q[:, None], members[None, :]
        s += a[i] * a[j] * attributes.score(i, j)
        s[(i == j) | (s <= 0)] = -np.inf
        ids, top = top_k(s, take)
        kept = ids >= 0
        rows.append(q[np.nonzero(kept)[0]])
        cols.append(members[ids[kept]])
        vals.append(top[kept])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _list_pairs(
    listed: _AttributeList, attributes: _Attributes, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(item, member) for each of ``items`` and each member of its list whose labels agree
    with the item's on exactly the list's label set, never the item itself. A pair agrees on
    one set only, so no pair comes from two lists."""
    query = listed.query[items]
    items, query = items[query >= 0], query[query >= 0]
    lo = listed.ptr[query]
    size = listed.ptr[query + 1] - lo
    offset = np.cumsum(size) - size
    members = listed.items[np.arange(size.sum()) - np.repeat(offset - lo, size)]
    i = np.repeat(items, size)
    keep = members != i
    for b, codes in enumerate(attributes.labels):
        same = (codes[i] == codes[members]) & (codes[i] >= 0)
        keep &= same == (b in listed.labels)
    return i[keep], members[keep]


def _widen(
    lists: list[_AttributeList],
    attributes: _Attributes,
    a: np.ndarray,
    items: np.ndarray,
    kth: np.ndarray,
    common_norm: np.ndarray,
    X_common: sp.csr_matrix,
    known: np.ndarray,
    n: int,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For ``items`` with k-th exact score ``kth``: every pool member j (of each list's label
    set S, labels agreeing on exactly S) whose value v_j = a_j (w_S + w_price P) could still
    reach it, a_i v_j + ‖x^C_i‖ max‖x^C‖ >= kth, scored exactly unless already in ``known``
    (sorted keys i·n + j); and per item the largest value left in any pool.

    A member with a rare column in common is either among the known pairs or below the k-th
    already (its bound included the rare dot product), so x^R_i·x^R_j is taken as 0.
    """
    common_max = common_norm.max(initial=0.0)
    rest = np.zeros(items.size)
    found_rows, found_cols, found_scores = [np.empty(0, np.int64)], [np.empty(0, np.int64)], []
    found_scores.append(np.empty(0))
    # reach_i: the smallest value that could still reach the k-th (rounded down)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = ((kth - 1e-7) / (1 + 1e-5) - common_norm[items] * common_max) / a[items]
    reach = np.nan_to_num(reach, nan=np.inf, posinf=np.inf, neginf=-np.inf)
    for listed in lists:
        query = listed.query[items]
        has = np.flatnonzero(query >= 0)
        if has.size == 0:
            continue
        q = query[has]
        lo, hi = listed.pool_ptr[q], listed.pool_ptr[q + 1]
        keys, top, width = listed.pool_keys
        limit = np.clip(reach[has], -1.0, top)
        end = np.clip(np.searchsorted(keys, q * width + (top - limit), side="right"), lo, hi)
        following = np.where(end < hi, listed.pool_values[np.minimum(end, hi - 1)], 0.0)
        rest[has] = np.maximum(rest[has], following)
        size = end - lo
        offset = np.cumsum(size) - size
        position = np.arange(size.sum()) - np.repeat(offset - lo, size)
        i = np.repeat(items[has], size)
        j = listed.pool_items[position]
        keep = i != j
        for b, codes in enumerate(attributes.labels):
            same = (codes[i] == codes[j]) & (codes[i] >= 0)
            keep &= same == (b in listed.labels)
        i, j = i[keep], j[keep]
        low = a[i] * a[j] * attributes.score(i, j)
        row_kth = kth[np.searchsorted(items, i)]
        keep = (low + common_norm[i] * common_norm[j]) * (1 + 1e-5) + 1e-7 >= row_kth
        i, j, low = i[keep], j[keep], low[keep]
        new = i * n + j
        if known.size:
            at = np.minimum(np.searchsorted(known, new), known.size - 1)
            keep = known[at] != new
            i, j, low = i[keep], j[keep], low[keep]
        found_rows.append(i)
        found_cols.append(j)
        found_scores.append(low + _pair_dots(X_common, i, j))
    rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
    return rest, (rows, cols, np.concatenate(found_scores))


def _block_entries(
    matrix: sp.csr_matrix, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row - start, col, value) of the entries of rows [start, stop)."""
    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    rows = np.repeat(np.arange(stop - start), np.diff(matrix.indptr[start : stop + 1]))
    return rows, matrix.indices[lo:hi].astype(np.int64), matrix.data[lo:hi]


def _kth(rows: np.ndarray, values: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """k-th value of each row of best-first grouped entries; 0 for rows with fewer."""
    counts = np.bincount(rows, minlength=n_rows)
    kth = np.zeros(n_rows)
    full = np.flatnonzero(counts >= k)
    kth[full] = values[(np.cumsum(counts) - counts)[full] + k - 1]
    return kth


def _assemble(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_items: int) -> sp.csr_matrix:
    """The (n_items, n_items) float32 CSR of the kept neighbours, indices sorted."""
    similarity = sp.csr_matrix(
        (vals.astype(FLOAT), (rows, cols)), shape=(n_items, n_items), dtype=FLOAT
    )
    similarity.sort_indices()
    return similarity


def _pair_dots(X: sp.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """x_i·x_j for each pair (i, j), float64."""
    if X.shape[1] == 0 or X.nnz == 0 or i.size == 0:
        return np.zeros(i.size)
    products = X[i].multiply(X[j])
    return np.asarray(products.sum(axis=1), dtype=np.float64).ravel()


def _normalize_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty)."""
    matrix = sp.csr_matrix(matrix, dtype=FLOAT)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(FLOAT)
    return sp.csr_matrix(sp.diags(scale) @ matrix, dtype=FLOAT)
