"""Product text to terms and tf-idf rows: the tokenizer shared by the content model and search."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT

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


def tfidf(
    texts: Sequence[str], *, bigrams: bool, min_df: int, max_features: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """tf-idf rows, sorted vocabulary and idf for the product texts.

    Sublinear tf (1 + log tf), smoothed idf log((1 + n) / (1 + df)) + 1, unigrams plus (when
    ``bigrams``) bigrams of the kept tokens; terms in fewer than ``min_df`` texts are dropped
    and at most ``max_features`` kept, the most widespread first.
    """
    # Tokens become integer ids (one regex pass over the catalog, one dict look-up per
    # token), bigrams are pairs of those ids, and strings are built only for kept terms.
    n = len(texts)
    token_ids, item_ids, words = _token_ids([str(text or "") for text in texts])
    if token_ids.size == 0:
        return sp.csr_matrix((n, 0), dtype=FLOAT), np.array([], str), np.array([], FLOAT)
    n_words = len(words)
    term_ids, term_items = token_ids, item_ids
    pair_codes = np.array([], dtype=np.int64)
    if bigrams and token_ids.size > 1:
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
    keep = np.flatnonzero(df >= min_df)
    if keep.size > max_features:
        # Most widespread first; ties broken by the term's alphabetical position.
        keep = keep[np.lexsort((alphabetical[keep], -df[keep]))[:max_features]]
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
