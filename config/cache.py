"""Django's Redis cache with one connection pool per process and a plain SET for `add`.

Django's `RedisCache` is made per thread or asyncio context (so per ASGI request, each its own),
each with its own client and connection pool: every request opened a new TCP connection to Redis,
and redis-py read its own package metadata from disk for each new connection. Here the pools are
kept per process, by server URL and options. `add` (the rate limits' counter, once per limit and
request) sends `SET key value EX t NX` itself: redis-py's `set` checks its keyword arguments
through `inspect.signature` on every call, a tenth of a run start's CPU. The client object
is kept per pool as well: Django builds a new `redis.Redis` for every cache call, and its
constructor (a few dozen options, a retry policy, a response-callback table) was another tenth
of a start, five times per request through the rate limits. A client is thread-safe: it takes a
connection from its pool for each command. `incr` (the rate limits' count, once a key exists) is
one round trip: Django's sends `EXISTS` first, then `INCRBY`; here a script does both at the
server, so the count of a missing key still fails without creating it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[str, str], Any] = {}
_clients: dict[int, Any] = {}
_lock = threading.Lock()

# INCRBY, only if the key exists (Django's `incr` raises ValueError for a missing key; INCRBY
# alone would create it, without the window's expiry).
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
"""
_scripts: dict[int, Any] = {}


class SharedPoolRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        url = self._servers[index]
        key = (url, repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = _pools[key] = self._pool_class.from_url(url, **self._pool_options)
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = _clients.get(id(pool))
        if client is None:
            with _lock:
                client = _clients.get(id(pool))
                if client is None:
                    client = _clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts[id(client)] = client.register_script(_INCR_EXISTING)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def add(self, key: Any, value: Any, timeout: int | None) -> bool:
        client = self.get_client(key, write=True)
        value = self._serializer.dumps(value)
        if timeout == 0:
            if added := bool(client.execute_command("SET", key, value, "NX")):
                client.delete(key)
            return added
        if timeout is None:
            return bool(client.execute_command("SET", key, value, "NX"))
        return bool(client.execute_command("SET", key, value, "EX", timeout, "NX"))


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
