"""The Redis cache: one connection pool per process for every thread's cache object, and `add`
keeping Django's meaning (set only when absent, with the timeout)."""

import json
import os
import subprocess
import sys
import threading
import uuid

import pytest

from config.cache import SharedPoolRedisCache

pytestmark = pytest.mark.integration


def cache_for(url: str, prefix: str) -> SharedPoolRedisCache:
    return SharedPoolRedisCache(url, {"KEY_PREFIX": prefix})


def test_add_sets_only_an_absent_key_and_keeps_the_timeout(redis_url):
    cache = cache_for(redis_url, f"test-{uuid.uuid4().hex}")
    assert cache.add("counter", 0, 60) is True
    assert cache.add("counter", 5, 60) is False
    assert cache.get("counter") == 0
    assert cache.incr("counter") == 1
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_and_validate_key("counter"))
    assert 0 < ttl <= 60
    # No timeout: no expiry. A timeout of 0: expired at once, as Django's own backend does.
    assert cache.add("forever", "x", None) is True
    assert client.ttl(cache.make_and_validate_key("forever")) == -1
    assert cache.add("gone", "x", 0) is True
    assert cache.get("gone") is None
    cache.delete_many(["counter", "forever"])


def test_every_thread_s_cache_shares_one_connection_pool(redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    pools = []

    def one_request(i: int) -> None:
        # Django makes a cache object per thread (per ASGI request): each used to open its own
        # pool and so a new connection to Redis.
        cache = cache_for(redis_url, prefix)
        cache.add(f"k{i}", i, 30)
        pools.append(cache._cache._get_connection_pool(True))

    threads = [threading.Thread(target=one_request, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
        thread.join()
    assert len({id(pool) for pool in pools}) == 1
    # One after another, the requests reuse the one connection instead of opening eight.
    assert len(pools[0]._available_connections) + len(pools[0]._in_use_connections) == 1
    cache_for(redis_url, prefix).delete_many([f"k{i}" for i in range(8)])


def test_every_thread_s_cache_shares_one_client(redis_url):
    # Django built a new redis.Redis for every cache call (five per run start through the rate
    # limits); one client per pool serves every thread, each command on a pooled connection.
    prefix = f"test-{uuid.uuid4().hex}"
    clients, errors = [], []

    def one_request(i: int) -> None:
        cache = cache_for(redis_url, prefix)
        try:
            for n in range(20):
                cache.add(f"k{i}", 0, 30)
                assert cache.incr(f"k{i}") == n + 1
        except Exception as exc:  # reported below: a thread's assert would be lost
            errors.append(exc)
        clients.append(cache._cache.get_client(write=True))

    threads = [threading.Thread(target=one_request, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(client) for client in clients}) == 1
    cache_for(redis_url, prefix).delete_many([f"k{i}" for i in range(8)])


def test_incr_counts_an_existing_key_in_one_command_and_never_creates_one(redis_url):
    cache = cache_for(redis_url, f"test-{uuid.uuid4().hex}")
    client = cache._cache.get_client(write=True)
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    assert cache.get("missing") is None
    assert client.exists(cache.make_and_validate_key("missing")) == 0
    cache.add("window", 1, 60)
    sent = []
    execute = client.execute_command
    client.execute_command = lambda *args, **options: (
        sent.append(args[0]) or execute(*args, **options)
    )
    try:
        assert cache.incr("window") == 2
        assert cache.incr("window", 5) == 7
    finally:
        del client.execute_command
    assert sent == ["EVALSHA", "EVALSHA"]  # one command each, no EXISTS round trip first
    assert cache.get("window") == 7
    assert 0 < client.ttl(cache.make_and_validate_key("window")) <= 60  # the expiry stays
    cache.set("text", "abc", 60)
    with pytest.raises(Exception, match="not an integer"):
        cache.incr("text")
    cache.delete_many(["window", "text"])


CACHE_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.CACHES['default']))"
)


def test_deployments_sharing_a_redis_database_keep_their_counters_apart(redis_url):
    """Two deployments (or two test sessions) on one Redis database, told apart by their queue:
    a rate-limit counter of user 1 in one is not user 1's counter in the other."""

    def cache_settings(queue: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-c", CACHE_SETTINGS],
            env={**os.environ, "REDIS_URL": redis_url, "SWITCHBOARD_CELERY_QUEUE": queue},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    first, second = (cache_settings(f"q-{uuid.uuid4().hex[:6]}") for _ in range(2))
    assert first["KEY_PREFIX"] != second["KEY_PREFIX"]
    one, other = (cache_for(redis_url, s["KEY_PREFIX"]) for s in (first, second))
    try:
        one.set("ratelimit:user:1", 7, 60)
        assert other.get("ratelimit:user:1") is None
        assert one.get("ratelimit:user:1") == 7
    finally:
        one.delete("ratelimit:user:1")
