"""The Celery broker's Redis transport: one client per channel (not one per command), rebuilt on
a new pool, and messages still published and received as with kombu's own transport."""

import uuid

import pytest
from django.conf import settings
from kombu import Connection, Queue

from config.broker import Transport
from tests.conftest import require_or_skip

pytestmark = pytest.mark.integration


def test_celery_uses_the_transport_with_redis():
    require_or_skip(
        settings.CELERY_BROKER_URL.startswith("redis://"), "the broker tests need REDIS_URL"
    )
    from config.celery import app

    with app.connection_for_write() as connection:
        assert connection.transport_cls == "config.broker:Transport"
        assert isinstance(connection.transport, Transport)


def test_one_client_per_channel_until_its_pool_is_replaced(redis_url):
    queue = Queue(f"test-broker-{uuid.uuid4().hex}")
    with Connection(redis_url, transport="config.broker:Transport") as connection:
        channel = connection.default_channel
        producer = connection.Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        client = channel._create_client()
        assert channel._create_client() is client
        assert client.llen(queue.name) == 3
        # After a lost connection kombu drops the pools; the next command needs a new client.
        channel._disconnect_pools()
        assert channel._create_client() is not client
        bound = queue(channel)
        received = [bound.get(no_ack=True).payload for _ in range(3)]
        assert received == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert bound.get(no_ack=True) is None
        bound.delete()
