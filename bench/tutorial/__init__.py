"""The Channels tutorial's chat, as the baseline for bench.fanout.

The consumer has the shape of the tutorial's (docs.channels: Tutorial Part 3): every socket
joins the room's group with its own layer channel, a received message is `group_send`-ed to the
group, and each consumer JSON-encodes the event for its own socket. The app runs under plain
Daphne with channels_redis's core RedisChannelLayer, and reads sessions from the same database
as Switchboard (the tutorial's AuthMiddlewareStack), so the same logged-in cookies work on both.
"""
