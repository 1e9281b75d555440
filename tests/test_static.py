"""Static files collect under the production storage (the Dockerfile runs this at build time)."""

from __future__ import annotations

from django.core.management import call_command

PRODUCTION_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_collectstatic_with_the_production_storage_resolves_every_reference(settings, tmp_path):
    # The manifest storage rewrites url(...) and sourceMappingURL references and fails the
    # build on any it cannot find, e.g. a vendored script pointing at a map it ships without.
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STORAGE}}

    call_command("collectstatic", "--noinput", verbosity=0)

    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/chartjs/chart.umd.min.js" in manifest
    assert "css/shelfwise.css" in manifest
