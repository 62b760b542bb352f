"""realtime.serve.BoundedSocket: frames go to the transport in order, counted in the socket's
traffic stats, and a connection is set up, without autobahn formatting debug lines for them."""

from collections import deque

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.websocket import protocol as autobahn_protocol
from autobahn.websocket.protocol import TrafficStats
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from twisted.internet.address import IPv4Address

from realtime.serve import BoundedSocket


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def open_socket() -> BoundedSocket:
    """A socket in the open state with what sendData reads (no reactor, no handshake)."""
    sock = BoundedSocket.__new__(BoundedSocket)
    sock.transport = Transport()
    sock.send_queue = deque()
    sock.logOctets = False
    sock.state = AutobahnProtocol.STATE_OPEN
    sock.trafficStats = TrafficStats()
    return sock


@pytest.fixture
def formatting_forbidden(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a debug line was formatted for a frame")

    monkeypatch.setattr(autobahn_protocol, "hltype", refuse)
    monkeypatch.setattr(autobahn_protocol, "hlval", refuse)


def test_frames_are_written_in_order_and_counted_without_a_debug_line(formatting_forbidden):
    sock = open_socket()
    sock.sendData(b"one")
    sock.sendData(b"three")
    assert sock.transport.written == [b"one", b"three"]
    assert sock.trafficStats.outgoingOctetsWireLevel == 8


def test_the_handshake_counts_as_before_the_socket_opened(formatting_forbidden):
    sock = open_socket()
    sock.state = AutobahnProtocol.STATE_CONNECTING
    sock.sendData(b"HTTP/1.1 101")
    assert sock.trafficStats.preopenOutgoingOctetsWireLevel == 12
    assert sock.trafficStats.outgoingOctetsWireLevel == 0


def test_with_frames_queued_a_frame_waits_its_turn_in_autobahn(monkeypatch):
    sock = open_socket()
    sock.send_queue.append((b"queued first", False))
    triggered = []
    monkeypatch.setattr(BoundedSocket, "_trigger", lambda self: triggered.append(True))
    sock.sendData(b"second")
    assert sock.transport.written == []  # not ahead of what waits
    assert list(sock.send_queue) == [(b"queued first", False), (b"second", False)]
    assert triggered


class TcpTransport(Transport):
    def getPeer(self):  # noqa: N802 - Twisted's names
        return IPv4Address("TCP", "127.0.0.1", 50000)

    def getHost(self):  # noqa: N802
        return IPv4Address("TCP", "127.0.0.1", 8000)

    def setTcpNoDelay(self, enabled):  # noqa: N802
        pass


def test_a_connection_is_set_up_without_formatting_its_settings(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the socket's settings were formatted for a debug line")

    monkeypatch.setattr(autobahn_protocol, "pformat", refuse)
    sock = BoundedSocket()
    sock.factory = WebSocketServerFactory()
    sock.factory.openHandshakeTimeout = 0  # no timer left behind in Twisted's reactor
    sock.factory.closeHandshakeTimeout = 7
    sock.transport = TcpTransport()
    sock._connectionMade()
    assert sock.state == AutobahnProtocol.STATE_CONNECTING
    assert sock.closeHandshakeTimeout == 7  # the factory's settings were copied
    assert autobahn_protocol.pformat is refuse  # put back for whoever formats next
