import os

import pytest

from tests.conftest import require_or_skip
from tests.runs.test_celery_worker import redis_available


@pytest.fixture
def redis_url():
    """The Redis of REDIS_URL (these tests talk to a real one), or a skip (a failure in CI)."""
    url = os.environ.get("REDIS_URL", "")
    require_or_skip(redis_available(url), "these tests need Redis (REDIS_URL)")
    return url
