"""realtime.serve.ClosingServer.application_checker: Daphne's reaping of ended applications and
gone clients, done only for the connections that changed, and still for every one that did;
and how many connections a listening port accepts at a time."""

import asyncio
import socket
import time

import pytest
from twisted.internet import protocol, tcp

from realtime import serve


class Connection:
    """Stands in for a Daphne protocol: the checker only hashes it and may report to it."""

    def __init__(self) -> None:
        self.exceptions: list[BaseException] = []

    def handle_exception(self, exception: BaseException) -> None:
        self.exceptions.append(exception)


@pytest.fixture
def server(monkeypatch):
    rounds = []
    monkeypatch.setattr(serve.reactor, "callLater", lambda delay, f: rounds.append((delay, f)))
    instance = serve.ClosingServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    instance.connections = {}  # as Server.run() begins
    instance.rounds = rounds
    return instance


def start(server, connection: Connection, app) -> None:
    server.protocol_connected(connection)
    server.application = lambda scope, receive, send: app(receive)
    assert server.create_application(connection, {"type": "websocket"}) is not None


async def test_reaps_what_ended_and_leaves_the_rest_alone(server, monkeypatch):
    forever = asyncio.Event()

    async def runs(receive):
        await forever.wait()

    async def ends(receive):
        return None

    async def fails(receive):
        raise RuntimeError("the application failed")

    busy, done, failed, gone, stuck = (Connection() for _ in range(5))
    for connection, app in ((busy, runs), (done, ends), (failed, fails), (gone, ends)):
        start(server, connection, app)
    start(server, stuck, runs)
    await asyncio.wait(
        [server.connections[c]["application_instance"] for c in (done, failed, gone)]
    )
    server.protocol_disconnected(gone)
    server.protocol_disconnected(stuck)
    assert server.to_reap == {done, failed, gone, stuck}  # not `busy`: nothing changed there

    server.application_checker()
    assert set(server.connections) == {busy, done, failed, stuck}
    assert "application_instance" not in server.connections[done]
    assert [str(e) for e in failed.exceptions] == ["the application failed"]
    assert server.to_reap == {stuck}, "gone, its application still running: looked at again"
    assert server.rounds[-1][0] == 1

    # Past Daphne's close timeout the stuck application is cancelled, then reaped.
    monkeypatch.setattr(server, "application_close_timeout", 0)
    server.connections[stuck]["disconnected"] = time.time() - 1
    instance = server.connections[stuck]["application_instance"]
    server.application_checker()
    await asyncio.wait([instance])
    assert instance.cancelled() and server.to_reap == {stuck}
    server.application_checker()
    assert set(server.connections) == {busy, done, failed}
    forever.set()


async def test_the_collector_counts_the_closes_of_connections_a_freeze_caught_open(server):
    """What a connection leaves among frozen objects needs a thaw only if a freeze caught it
    open, from the moment Daphne added it (a request's line, before its body came): most
    requests end between two full collections. A WebSocket handshake's HTTP request hands its
    connection on within the handshake (Daphne disconnects it at once, the checker reaps it
    within a second) and is never counted: a storm's thousands, caught by the freezes of
    its many full collections, thawed the survivor mid-storm (a 1.2 s stop)."""
    counted = []
    server.collector.connection_closed = lambda: counted.append(True)

    async def ends(receive):
        return None

    caught, quick, upgraded = Connection(), Connection(), Connection()
    server.protocol_connected(upgraded)
    server.protocol_disconnected(upgraded)  # handed on within the handshake
    server.protocol_connected(caught)  # its request line came; its body not yet
    server.collector.freezes += 1  # a full collection froze what both hold
    server.application_checker()  # reaps the upgrade request, not counted
    assert upgraded not in server.connections and counted == []
    server.application = lambda scope, receive, send: ends(receive)
    assert server.create_application(caught, {"type": "http"}) is not None
    start(server, quick, ends)
    for connection in (caught, quick):
        await asyncio.wait([server.connections[connection]["application_instance"]])
    for connection in (caught, quick):
        server.protocol_disconnected(connection)
    server.application_checker()
    assert server.connections == {}
    assert counted == [True], "only the connection a freeze caught open"


def test_serve_pings_every_30_seconds_unless_told(monkeypatch):
    ran = []
    monkeypatch.setattr(serve.ClosingCommandLine, "run", lambda self, args: ran.append(args))
    monkeypatch.setattr(serve, "limit_malloc_arenas", lambda: None)
    monkeypatch.setattr("sys.argv", ["serve", "config.asgi:application"])
    serve.main()
    monkeypatch.setattr("sys.argv", ["serve", "--ping-interval", "5", "config.asgi:application"])
    serve.main()
    told, default = ran[1], ran[0]
    assert default[default.index("--ping-interval") + 1] == str(serve.PING_SECONDS) == "30"
    assert told.count("--ping-interval") == 1 and told[told.index("--ping-interval") + 1] == "5"


async def test_the_scope_tells_the_application_whether_its_client_has_gone(server):
    from realtime.admission import CLIENT_GONE

    connection, scope = Connection(), {"type": "websocket"}
    server.protocol_connected(connection)

    async def application(scope, receive, send):
        return None

    server.application = application
    server.create_application(connection, scope)
    gone = scope["extensions"][CLIENT_GONE]
    assert not gone()
    server.protocol_disconnected(connection)
    assert gone()


def test_a_listening_port_accepts_at_most_its_cap_per_read_however_many_wait():
    """Twisted accepts up to 100 connections per readable event and adds 20 after each read
    that took all it could; capped, a crowd in the listen queue comes in ACCEPTS_PER_READ at a
    time, each read."""
    accepted: list[protocol.Protocol] = []

    class Recording(protocol.Factory):
        def buildProtocol(self, addr):  # noqa: N802 - Twisted's name
            built = protocol.Protocol()
            accepted.append(built)
            return built

    port = tcp.Port(0, Recording(), backlog=256, interface="127.0.0.1", reactor=serve.reactor)
    port.startListening()
    clients = []
    try:
        serve.accept_at_most(port, 8)
        address = port.getHost()
        clients = [socket.create_connection((address.host, address.port)) for _ in range(20)]
        per_read = []
        for _ in range(3):
            before = len(accepted)
            port.doRead()
            per_read.append(len(accepted) - before)
        assert per_read == [8, 8, 4]
    finally:
        for built in accepted:
            serve.reactor.removeReader(built.transport)
            built.transport.socket.close()
        port.stopReading()
        port.socket.close()
        for client in clients:
            client.close()
