"""Switchboard's test settings on channels_redis's pub/sub layer, for bench.fanout's
`switchboard-pubsub` system.

Measured against the core layer and not kept (docs/architecture.md): it saved about 10% of the
CPU per delivery, but a process misses what is published while its subscription reconnects
after Redis restarts, and no error reaches the hub to make its sockets catch up.
"""

from config import redis_options
from config.settings.test import *  # noqa: F403

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, **redis_options.client_options()}]},  # noqa: F405
    }
}
