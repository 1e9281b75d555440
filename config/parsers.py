"""The API's one parser: JSON, with a 400 for a body nested too deep to parse safely.

Its own module: DRF imports the parser classes while ``rest_framework.views`` is still loading,
so this must not import anything that imports views (``config.api`` does).
"""

from __future__ import annotations

import codecs
from typing import Any

from rest_framework import exceptions, parsers
from rest_framework.utils import json

# Deeper than any body the API takes (attributes nest a few levels); Python's json raises
# RecursionError near 1,000 levels, and code walking a parsed body recurses too.
MAX_JSON_DEPTH = 64


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus a 400 for nesting deeper than ``MAX_JSON_DEPTH``: json raises
    RecursionError (a 500) at about 1,000 levels."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            data = json.load(
                codecs.getreader(encoding)(stream),
                parse_constant=json.strict_constant if self.strict else None,
            )
        except RecursionError:
            data = None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        else:
            if _depth_within(data, MAX_JSON_DEPTH):
                return data
        raise exceptions.ParseError(
            f"JSON parse error - the body nests more than {MAX_JSON_DEPTH} levels deep."
        )


def _depth_within(data: Any, limit: int) -> bool:
    stack = [(data, 1)]  # iterative: the point is not to recurse on client input
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return False
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return True
