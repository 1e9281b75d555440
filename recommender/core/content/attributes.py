"""Category, brand and price band codes, and the attribute part g_ij of a pair's cosine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT, normalize_rows

# Band of an item without a known price.
NO_BAND = np.iinfo(np.int64).min
# Cosine of two price-band vectors [.5, 1, .5]/‖·‖ whose bands are 0, 1, 2, >= 3 apart.
_BAND_COSINE = np.array([1.0, 2.0 / 3.0, 1.0 / 6.0, 0.0])


def label_codes(labels: Sequence[Any]) -> np.ndarray:
    """Dense code per distinct label (sorted as strings); None, NaN and "" give -1."""
    text = np.array(["" if label is None else str(label) for label in labels], dtype=str)
    known = (text != "") & (text != "nan")
    codes = np.full(text.size, -1, dtype=np.int64)
    codes[known] = np.unique(text[known], return_inverse=True)[1].ravel()
    return codes


def one_hot_codes(codes: np.ndarray) -> sp.csr_matrix:
    """One column per label code; -1 gives an empty row."""
    items = np.flatnonzero(codes >= 0)
    return sp.csr_matrix(
        (np.ones(items.size, dtype=FLOAT), (items, codes[items])),
        shape=(codes.size, int(codes.max(initial=-1)) + 1),
    )


def band_codes(prices: np.ndarray, ratio: float) -> np.ndarray:
    """Log-price band per item, ``NO_BAND`` when the price is unknown (NaN or <= 0)."""
    known = np.isfinite(prices) & (prices > 0)
    bands = np.full(prices.size, NO_BAND, dtype=np.int64)
    # band = floor(log(price) / log(ratio))
    bands[known] = np.floor(np.log(prices[known]) / np.log(ratio))
    return bands


def price_bands(bands: np.ndarray) -> sp.csr_matrix:
    """One-hot log-price band, with half weight on both neighbouring bands, L2-normalised."""
    items = np.flatnonzero(bands != NO_BAND)
    band = bands[items]
    spread = np.concatenate([band - 1, band, band + 1])
    columns, column_ids = np.unique(spread, return_inverse=True)
    weights = np.repeat(np.array([0.5, 1.0, 0.5], dtype=FLOAT), band.size)
    matrix = sp.csr_matrix(
        (weights, (np.tile(items, 3), column_ids.ravel())), shape=(bands.size, columns.size)
    )
    return normalize_rows(matrix)


@dataclass
class Attributes:
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
            g += self.price_weight * band_cosine(self.bands[i], self.bands[j])
        return g


def band_cosine(band: np.ndarray, other: np.ndarray) -> np.ndarray:
    known = (band != NO_BAND) & (other != NO_BAND)
    gap = np.minimum(np.abs(np.where(known, band - other, 3)), 3)
    return _BAND_COSINE[gap]
