"""The API suites' fixtures for the webhook suites that call the API: a clean key prefix per test and
an in-process HTTP client."""

from tests.api.conftest import _fresh_kv_prefix, http  # noqa: F401 (fixtures, registered by import)
