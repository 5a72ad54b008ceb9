"""The API tests' seeded database, app and clients (see tests/api/conftest.py)."""

from tests.api.conftest import api, app, client, seeded_url  # noqa: F401 - fixtures
