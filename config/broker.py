"""Kombu's Redis transport, with one client per channel instead of one per command.

Kombu's Redis channel builds a new `redis.Redis` for every synchronous command it sends: every
publish (a run's kick), every ack, every unacked-index update. The client is only a handle on
the channel's connection pool, but building one copies redis-py's table of response callbacks,
which was about a fifth of a kick's CPU and as much of a worker's message handling. A client
holds no per-call state (commands and pipelines take a connection from the pool), so one per
channel serves every thread the channel did. When kombu replaces the channel's pool (after a
lost connection), the client is built again on the new one.

Used for `redis://` brokers (settings.CELERY_BROKER_TRANSPORT); everything else is kombu's.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _client_of_pool: tuple[Any, Any] | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        kept = self._client_of_pool
        if kept is None or kept[0] is not pool:
            kept = self._client_of_pool = (pool, super()._create_client())
        return kept[1]


class Transport(kombu_redis.Transport):
    Channel = Channel
