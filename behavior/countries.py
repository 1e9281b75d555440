"""Countries are stored as ISO 3166-1 alpha-2 codes ("DE") and shown by name ("Germany").

Shops and imports write countries every way: codes, names, and the Online Retail file's own
spellings ("EIRE", "RSA"). ``country_code`` reads all of them; ``country_name`` is what screens
and reasons ("trending in Germany") show.
"""

from __future__ import annotations

from django_countries import countries

# Spellings that are not a name django-countries knows, lower-cased, mapped to the code they
# mean ("" = no country). The Online Retail file's non-ISO regions ("Channel Islands",
# "European Community") have user-assigned codes in settings.COUNTRIES_OVERRIDE.
ALIASES = {
    "eire": "IE",
    "rsa": "ZA",
    "usa": "US",
    "uk": "GB",
    "czech republic": "CZ",
    "channel islands": "XC",
    "european community": "EU",
    "unspecified": "",
}


def country_code(value: str) -> str | None:
    """The ISO code for a code or a country name in any case; "" for no country, None when
    the value names no country Shelfwise knows."""
    text = value.strip()
    if not text:
        return ""
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    if len(text) == 2 and text.upper() in countries:
        return text.upper()
    return countries.by_name(text, insensitive=True) or None


def country_name(code: str) -> str:
    """The country's English name ("DE" -> "Germany"); an unknown code as it is."""
    return (countries.name(code) or code) if code else ""
