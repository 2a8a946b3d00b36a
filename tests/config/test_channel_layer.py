"""The channel layer with Redis: pub/sub, one PUBLISH per broadcast, and deployments sharing a
Redis server kept apart by the layer's prefix (pub/sub channels ignore the database number)."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import redis
from channels_redis.pubsub import RedisPubSubChannelLayer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps(settings.CHANNEL_LAYERS['default']))"
)


def layer_configs(*deployments: tuple[str, str]) -> list[dict]:
    """CHANNEL_LAYERS["default"] as settings.py makes it for each (REDIS_URL, queue)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SETTINGS],
            env={**os.environ, "REDIS_URL": url, "SWITCHBOARD_CELERY_QUEUE": queue},
            stdout=subprocess.PIPE,
            text=True,
        )
        for url, queue in deployments
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def layer(config: dict) -> RedisPubSubChannelLayer:
    assert config["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    return RedisPubSubChannelLayer(**config["CONFIG"])


async def received(receiver: RedisPubSubChannelLayer, channel: str, timeout: float) -> list:
    messages = []
    try:
        while True:
            messages.append(await asyncio.wait_for(receiver.receive(channel), timeout))
            timeout = 0.5  # anything after the first would be a second copy
    except TimeoutError:
        return messages


async def test_deployments_on_one_redis_server_do_not_hear_each_other(redis_url):
    base = redis_url.rsplit("/", 1)[0]
    queue = f"q-{uuid.uuid4().hex[:6]}"
    # Another database, or another queue, on the same server: pub/sub would cross both.
    configs = layer_configs(
        (f"{base}/5", queue), (f"{base}/6", queue), (f"{base}/5", f"q-{uuid.uuid4().hex[:6]}")
    )
    prefixes = [config["CONFIG"]["prefix"] for config in configs]
    assert len(set(prefixes)) == 3
    group = "run_1"  # every deployment has a run 1
    listeners = [layer(config) for config in configs]
    sender = layer(configs[0])
    server = redis.Redis.from_url(f"{base}/0")
    try:
        channels = []
        for listener in listeners:
            channel = await listener.new_channel()
            await listener.group_add(group, channel)
            channels.append(channel)
        names = [f"{prefix}__group__{group}" for prefix in prefixes]
        deadline = time.monotonic() + 30
        while any(count < 1 for _, count in server.pubsub_numsub(*names)):
            assert time.monotonic() < deadline, server.pubsub_numsub(*names)
            await asyncio.sleep(0.05)  # the subscriptions have not reached Redis yet
        await sender.group_send(group, {"type": "run.event", "event": {"seq": 1}})
        assert await received(listeners[0], channels[0], 30) == [
            {"type": "run.event", "event": {"seq": 1}}
        ]
        for other, channel in zip(listeners[1:], channels[1:], strict=True):
            assert await received(other, channel, 0.5) == []
    finally:
        server.close()
        for each in [*listeners, sender]:
            await each.flush()
