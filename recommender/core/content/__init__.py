"""Content-based item similarity from product text and attributes (see ``model``)."""

from recommender.core.content.model import ContentModel
from recommender.core.content.text import STOP_WORDS, terms, tokenize

__all__ = ["STOP_WORDS", "ContentModel", "terms", "tokenize"]
