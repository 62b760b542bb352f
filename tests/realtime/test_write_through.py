"""realtime.serve.write_through on a real socket pair: a frame goes to the kernel at once when
nothing is queued, and Twisted's queue keeps the order and the rest when something is."""

import socket

import pytest
from twisted.internet.abstract import FileDescriptor
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory

from realtime.serve import write_through, writes_through


class Reactor:
    """What FileDescriptor asks of a reactor when it queues: to watch for writability."""

    def __init__(self) -> None:
        self.watched = []

    def addWriter(self, descriptor) -> None:  # noqa: N802 - Twisted's name
        self.watched.append(descriptor)


class Transport(FileDescriptor):
    TLS = False

    def __init__(self, sock: socket.socket) -> None:
        self.reactor_ = Reactor()
        super().__init__(self.reactor_)
        self.socket = sock
        self.connected = True


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    yield ours, peer
    ours.close()
    peer.close()


def test_a_frame_goes_to_the_kernel_at_once_when_nothing_is_queued(pair):
    ours, peer = pair
    transport = Transport(ours)
    write_through(transport, b"frame one")
    write_through(transport, b"frame two")
    assert peer.recv(100) == b"frame oneframe two"
    assert transport.reactor_.watched == []  # no writability watch, no extra turn of the loop


def test_behind_queued_bytes_a_frame_is_queued_in_order(pair):
    ours, peer = pair
    transport = Transport(ours)
    FileDescriptor.write(transport, b"queued first ")
    write_through(transport, b"then this")
    assert transport._tempDataBuffer == [b"queued first ", b"then this"]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing overtook the queue


def test_what_the_kernel_does_not_take_is_queued_and_counts_against_the_send_buffer(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    transport = Transport(ours)
    big = bytes(range(256)) * 4096  # 1 MiB: more than the kernel's buffers take
    write_through(transport, big)
    queued = b"".join(transport._tempDataBuffer)
    assert 0 < len(queued) < len(big) and big.endswith(queued)
    assert transport._tempDataLen == len(queued)  # what the producer's pause is measured on
    assert transport.reactor_.watched == [transport]


@pytest.mark.parametrize("state", ["disconnecting", "_aborting"])
def test_a_closing_transport_writes_the_twisted_way(pair, state):
    ours, peer = pair
    transport = Transport(ours)
    setattr(transport, state, True)
    write_through(transport, b"late")
    assert transport._tempDataBuffer == [b"late"]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing went to the socket directly


def test_only_a_plain_tcp_connection_writes_through(pair):
    from twisted.internet import reactor, ssl, tcp  # realtime.serve installed the reactor

    ours, _ = pair
    plain = tcp.Connection(ours, Protocol(), reactor)
    assert writes_through(plain)
    # What a TLS listener gives the protocol: a wrapper that passes attribute lookups through
    # to the TCP connection under it (its TLS flag, its socket).
    factory = TLSMemoryBIOFactory(ssl.CertificateOptions(), False, Factory.forProtocol(Protocol))
    wrapped = factory.buildProtocol(None)
    wrapped.makeConnection(plain)
    assert wrapped.socket is ours and wrapped.TLS is False  # what fooled the first guard
    assert not writes_through(wrapped)
