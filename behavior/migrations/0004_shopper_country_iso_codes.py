"""Shoppers' countries become ISO 3166-1 codes ("Germany" -> "DE", "EIRE" -> "IE").

Names are read the way behavior.countries reads them (copied here: a migration must not change
when that module does). "Unspecified" becomes no country; the Online Retail file's non-ISO
regions get the user-assigned codes settings.COUNTRIES_OVERRIDE names ("Channel Islands" XC,
"European Community" EU). A value that names no known country stops the migration and lists
what to fix: guessing would lose it, and the column is too narrow to keep it as written.
"""

from collections import Counter

from django.db import migrations
from django_countries import countries
from django_countries.fields import CountryField

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
CODES_TO_NAMES = {"XC": "Channel Islands", "EU": "European Community"}


def _code(value):
    text = value.strip()
    if not text:
        return ""
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    if len(text) == 2 and (text.upper() in countries or text.upper() in CODES_TO_NAMES):
        return text.upper()
    return countries.by_name(text, insensitive=True) or None


def names_to_codes(apps, schema_editor):
    Shopper = apps.get_model("behavior", "Shopper")
    values = Counter(Shopper.objects.values_list("country", flat=True))
    mapping = {value: _code(value) for value in values}
    unknown = sorted(value for value, code in mapping.items() if code is None)
    if unknown:
        listed = ", ".join(f"{value!r} ({values[value]} shoppers)" for value in unknown[:20])
        raise RuntimeError(
            f"These shopper countries name no country with an ISO code: {listed}. Set them to "
            "a code such as DE (or blank) in the admin or with SQL, then migrate again; "
            "nothing was changed."
        )
    for value, code in mapping.items():
        if code != value:
            Shopper.objects.filter(country=value).update(country=code)


def codes_to_names(apps, schema_editor):
    Shopper = apps.get_model("behavior", "Shopper")
    for code in set(Shopper.objects.exclude(country="").values_list("country", flat=True)):
        name = CODES_TO_NAMES.get(code) or countries.name(code) or code
        Shopper.objects.filter(country=code).update(country=name)


class Migration(migrations.Migration):
    dependencies = [("behavior", "0003_shopper_events_version")]

    operations = [
        migrations.RunPython(names_to_codes, codes_to_names),
        migrations.AlterField(
            model_name="shopper",
            name="country",
            field=CountryField(
                blank=True,
                db_index=True,
                help_text='ISO 3166-1 code, e.g. DE; shown by name. Drives "trending in <country>".',
                max_length=2,
            ),
        ),
    ]
