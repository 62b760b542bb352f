"""The floors for bench.fanout: a chat room's broadcast with nothing else around it.

`asgi` is a bare ASGI application (no Django, no Channels) for Daphne; `websockets_server` is the
same with the `websockets` library and `websockets.broadcast()`. Each runs as two processes
that share the room through one Redis pub/sub subscription per process: a message is published
once and every process writes the text to its own sockets. No auth, no persistence, no presence:
what is left is the server's cost of moving the frames.
"""
