"""realtime.serve.BoundedRequest: an event stream is dropped only when its send buffer stays
over the bound, never once it has ended, and a connection's own bound comes back when its
stream ends. (tests/integration/test_leaks.py drops a real one that is not read.)"""

import pytest
from daphne.http_protocol import WebRequest

from realtime import serve
from realtime.serve import BoundedRequest, StreamBufferGuard, is_event_stream


class Transport:
    bufferSize = 65536  # noqa: N815 - Twisted's name

    def __init__(self) -> None:
        self.aborted = 0

    def abortConnection(self) -> None:  # noqa: N802 - Twisted's name
        self.aborted += 1


class Channel:
    def __init__(self) -> None:
        self.transport = Transport()
        self.producer = None

    def unregisterProducer(self) -> None:  # noqa: N802
        self.producer = None


@pytest.fixture
def later(monkeypatch):
    """What the request asks the reactor to call later, to call by hand."""
    calls = []
    monkeypatch.setattr(serve.reactor, "callLater", lambda _, f, *a: calls.append((f, a)))
    return calls


def streaming_request() -> BoundedRequest:
    request = BoundedRequest.__new__(BoundedRequest)
    request.channel = Channel()
    request.finished = False
    request.producer = StreamBufferGuard(request)
    request.client_addr = ["127.0.0.1", 5000]
    return request


def test_a_stream_that_catches_up_within_its_grace_is_kept(later):
    request = streaming_request()
    request.fell_behind()  # a replay, written in one turn
    request.caught_up()  # and taken by the client
    request.fell_behind()
    assert len(later) == 2
    first, second = later
    first[0](*first[1])  # the first grace ends: the request has caught up since
    assert request.channel.transport.aborted == 0
    second[0](*second[1])  # still behind since the second time: dropped
    assert request.channel.transport.aborted == 1


def test_a_stream_that_ended_meanwhile_is_not_dropped(later):
    request = streaming_request()
    request.fell_behind()
    request.finished = True
    del request.channel  # what Twisted's Request does once a finished response is written
    check, args = later[0]
    check(*args)  # no AttributeError, nothing to drop


def test_the_end_of_a_stream_gives_its_connection_its_own_bound_back(monkeypatch):
    monkeypatch.setattr(WebRequest, "finish", lambda self: None)
    request = streaming_request()
    request.buffer_size = 65536
    request.channel.transport.bufferSize = 256 * 1024
    request.unregisterProducer = lambda: setattr(request, "producer", None)
    request.finish()
    assert request.producer is None
    assert request.channel.transport.bufferSize == 65536


@pytest.mark.parametrize(
    ("headers", "stream"),
    [
        ([(b"Content-Type", b"text/event-stream")], True),
        ([(b"content-type", b"Text/Event-Stream; charset=utf-8")], True),
        ([(b"Content-Type", b"application/json")], False),
        ([], False),
    ],
)
def test_what_counts_as_an_event_stream(headers, stream):
    assert is_event_stream({"type": "http.response.start", "headers": headers}) is stream
