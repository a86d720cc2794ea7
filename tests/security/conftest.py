"""The API fixtures of tests/api (in-process app, worker, fresh database, tokens)."""

from tests.api.conftest import api, auth, settings

__all__ = ["api", "auth", "settings"]
