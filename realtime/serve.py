"""`python -m realtime.serve`: Daphne's own command line, closing oversized frames with 1009.

Daphne enforces --websocket-max-message-size through autobahn, whose default on a frame over the
limit is to drop the TCP connection (the client sees 1006). Turning autobahn's documented
`failByDrop` option off makes the same check send a proper close frame, 1009 "message too big",
as CONTRACT.md §4 promises; and the server waits 5 s, not autobahn's 1 s, for a peer to answer
its close frame before it resets the connection (CLOSE_HANDSHAKE_SECONDS). Three defaults differ
(an explicit option or variable wins): a 20 s handshake timeout, a keepalive ping every 30 s
rather than 20 (each is a frame out and one in per socket: at 5,000 idle sockets, most of an
idle process's CPU; the browser sends its own heartbeat), and one malloc arena. It also starts
SWITCHBOARD_SERVER_TASKS (the demo's readings under `make run`) on the server's loop, and stops
them before the loop stops. Stopping is bounded: cancelled connections get
--application-close-timeout and server tasks SERVER_TASKS_STOP_SECONDS, and past a deadline
armed by the signal itself (arm_exit_deadline) the process exits whatever is stuck. What makes
it cheaper and steadier than stock Daphne: an open socket's frames go straight to the kernel
when nothing is queued before them (`write_through`); full garbage collections walk only
what is new (realtime.collector); the connection table is reaped as
connections change, not walked every second; a backlog of 4,096, at most ACCEPTS_PER_READ
connections accepted at a time, and a handshake gate that pauses accepting
(realtime.admission) for reconnect storms. What a client leaves unread is bounded, on
sockets (BoundedSocket, 4013) and event streams (BoundedRequest: dropped after 5 s over the
bound). Everything else is stock Daphne.
"""

import asyncio
import contextlib
import contextvars
import ctypes
import ctypes.util
import faulthandler
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import txaio
from asgiref.sync import sync_to_async
from autobahn.websocket import protocol as autobahn_protocol
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor, tcp
from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from realtime import admission
from realtime.closecodes import CloseCode
from realtime.collector import FreezingCollector

logger = logging.getLogger(__name__)


class InputQueue:
    """A connection's queue of ASGI events, for what Daphne and an application use of it:
    `put_nowait` (Daphne) and `get` (the application's `receive`, one waiter at a time).

    Daphne makes an asyncio.Queue per connection: four deques (its items, getters, putters and
    an Event's waiters) of 760 bytes each, over 3 KiB a socket for the handful of frames a
    socket ever has queued. This holds a list and at most one waiting future."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list = []
        self._waiter: asyncio.Future | None = None

    def put_nowait(self, item) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self):
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)  # a socket's queue is a few frames: no deque needed

    def qsize(self) -> int:
        return len(self._items)


# How many connections the kernel may queue for a listening socket before the server accepts
# them (the kernel caps it at net.core.somaxconn). Twisted's default is 50: a reconnect storm
# overflowed it, the kernel dropped the SYNs, and clients were back only when their TCP retried
# 31 or 63 s later (bench.storm; `netstat -s` counts "SYNs to LISTEN sockets dropped").
LISTEN_BACKLOG = 4096


PING_SECONDS = 30  # Daphne's keepalive ping (its own default: 20); proxies commonly give up at 60


def with_backlog(endpoint: str, backlog: int = LISTEN_BACKLOG) -> str:
    """A Twisted endpoint description with a listen backlog, unless it names one already or
    listens on nothing of its own (an inherited file descriptor)."""
    kind = endpoint.split(":", 1)[0]
    if kind in ("tcp", "tcp6", "ssl", "unix") and "backlog=" not in endpoint:
        return f"{endpoint}:backlog={backlog}"
    return endpoint


# Connections Twisted accepts per readable event of a listening socket. It starts at 100 and
# adds 20 each time it took all it could: through a reconnect storm's first flood that grew to
# hundreds, and each time the handshake gate resumed accepting they came in at once, their
# requests parsed in the next turns of the loop (Twisted and autobahn, about 1 ms each) while
# every delivery of the process waited (bench.storm: the survivor's p99 met 500 ms in 3 of 6
# runs without a cap, in 7 of 7 with 16 or 48; 16 also slowed the storm's return).
ACCEPTS_PER_READ = 48


def accept_at_most(port, accepts: int) -> None:
    """Hold Twisted's accepts per readable event of `port` at `accepts` at most (Twisted grows
    its own count after every read that took all it could, so it is set before each)."""
    original = port.doRead

    def do_read():
        port.numberAccepts = min(port.numberAccepts, accepts)
        return original()

    port.doRead = do_read


class ListeningPorts:
    """The server's listening ports, which realtime.admission pauses while handshakes crowd."""

    def __init__(self) -> None:
        self.ports: list = []

    def pause(self) -> None:
        for port in self.ports:
            if self._listening(port):
                port.stopReading()

    def resume(self) -> None:
        for port in self.ports:
            if self._listening(port):  # not one that stops listening (shutdown)
                port.startReading()

    @staticmethod
    def _listening(port) -> bool:
        return bool(port.connected) and not port.disconnecting


# Keys of Daphne's connection details: the collector's count of freezes when it was added (a
# request as its request line came; a WebSocket as its handshake began), and whether the
# application was given it. A WebSocket's upgrade request never is: it hands its connection
# on within the handshake, and waits in the table for the next round of the checker, where a
# storm's thousands would each count toward a thaw if a freeze came in between (each one
# such a thaw stopped the loop for 0.5-1.2 s in bench.storm).
OPENED_AT_FREEZE = "switchboard.opened_at_freeze"
SERVED = "switchboard.served"


class ClosingServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.endpoints = [with_backlog(endpoint) for endpoint in self.endpoints]
        self.listening_ports = ListeningPorts()
        admission.control_listening(self.listening_ports)
        # Connections whose application ended or whose client went: what application_checker
        # has to look at (Daphne's walks every connection every second).
        self.to_reap: set = set()
        self.collector = FreezingCollector(lambda: len(self.connections))

    def listen_success(self, port) -> None:
        if hasattr(port, "stopReading"):
            self.listening_ports.ports.append(port)
            accept_at_most(port, ACCEPTS_PER_READ)
        super().listen_success(port)

    def create_application(self, protocol, scope):
        """Daphne's own, with an InputQueue in place of its asyncio.Queue."""
        assert "application_instance" not in self.connections[protocol]
        input_queue = InputQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        # Whether the client has gone: a handshake that waited for its turn (realtime.admission)
        # is dropped then rather than served to nobody.
        extensions = scope.setdefault("extensions", {})
        extensions[admission.CLIENT_GONE] = partial(self.client_gone, protocol)
        application_instance = self.application(
            scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        future = asyncio.ensure_future(application_instance, loop=asyncio.get_event_loop())
        future.add_done_callback(lambda _: self.to_reap.add(protocol))
        self.connections[protocol]["application_instance"] = future
        self.connections[protocol][SERVED] = True
        return input_queue

    def client_gone(self, protocol) -> bool:
        details = self.connections.get(protocol)
        return details is None or "disconnected" in details

    def protocol_connected(self, protocol) -> None:
        super().protocol_connected(protocol)
        # The collector's freezes as it opens: it counts the close of one a freeze caught.
        self.connections[protocol][OPENED_AT_FREEZE] = self.collector.freezes

    def protocol_disconnected(self, protocol) -> None:
        super().protocol_disconnected(protocol)
        self.to_reap.add(protocol)

    def application_checker(self) -> None:
        """Daphne's, over the connections that changed since (an application ended, a client
        went) rather than all of them each second: with 5,000 sockets open and idle, that walk
        was a fifth of the process's CPU (bench.storm's idle phase, py-spy)."""
        candidates, self.to_reap = self.to_reap, set()
        try:
            self._check(candidates)
            self.collector.check()
        finally:
            reactor.callLater(1, self.application_checker)

    def _check(self, candidates: set) -> None:
        now = time.time()
        for protocol in candidates:
            details = self.connections.get(protocol)
            if details is None:
                continue
            disconnected = details.get("disconnected")
            instance = details.get("application_instance")
            overdue = disconnected and now - disconnected > self.application_close_timeout
            if overdue and instance and not instance.done():
                logger.warning(
                    "Application instance %r for connection %s took too long to shut down and "
                    "was killed.",
                    instance,
                    repr(protocol),
                )
                instance.cancel()  # its done callback brings it back here
            if instance and instance.done():
                self._reap(protocol, instance, disconnected)
                del details["application_instance"]
                instance = None
            if disconnected and not instance:
                caught = details.get(OPENED_AT_FREEZE, self.collector.freezes)
                del self.connections[protocol]
                if details.get(SERVED) and caught != self.collector.freezes:
                    self.collector.connection_closed()  # a freeze holds what it left
            elif disconnected:
                self.to_reap.add(protocol)  # gone, its application still busy: look again

    def _reap(self, protocol, instance: asyncio.Future, disconnected: float | None) -> None:
        """What Daphne does with an application that ended: report how, if it failed."""
        try:
            exception = instance.exception()
        except asyncio.CancelledError:
            return
        if exception is None:
            return
        if isinstance(exception, KeyboardInterrupt):
            self.stop()  # the protocol asks the server to exit (tests)
            return
        logger.error("Exception inside application: %s", exception, exc_info=exception)
        if not disconnected:
            protocol.handle_exception(exception)

    def kill_all_applications(self) -> Deferred:
        """Daphne's, bounded: cancel every application instance, then let the reactor stop once
        they have ended or --application-close-timeout has passed (what an instance gets once
        its client left; 10 s by default), and the process then exits without them. Daphne
        cancels once and waits without a bound, so an instance whose cleanup never ended (a
        consumer's release awaiting a layer that does not answer) kept the server running for
        ever. Daphne also read every connection's instance, and one without (a keep-alive
        connection between requests, an upgrade request not yet reaped) raised KeyError there:
        Twisted swallowed it, and the instances after it were never cancelled."""
        return in_own_context(self._kill_all_applications)

    def _kill_all_applications(self) -> Deferred:
        instances = [
            instance
            for details in self.connections.values()
            if (instance := details.get("application_instance")) and not instance.done()
        ]
        for instance in instances:
            instance.cancel()
        logger.info("Killed %i pending application instances", len(instances))
        waiting = _await_killed(instances, self.application_close_timeout)
        return Deferred.fromFuture(asyncio.ensure_future(waiting))

    def timeout_checker(self) -> None:
        """Daphne's (handshake and HTTP timeouts, keepalive pings), every few seconds instead of
        every two: each round touches every connection. Pings go out every ping interval plus
        at most a round."""
        for protocol in list(self.connections):
            protocol.check_timeouts()
        reactor.callLater(max(2.0, min(5.0, self.ping_interval / 4)), self.timeout_checker)

    def run(self) -> None:
        # Server.run builds ws_factory and then starts the reactor, so this runs after the former.
        # Set the one attribute: setProtocolOptions() would also reset Daphne's allowNullOrigin,
        # and autobahn would then answer `Origin: null` with 400 before the app can say 403.
        reactor.callWhenRunning(lambda: setattr(self.ws_factory, "failByDrop", False))
        reactor.callWhenRunning(
            lambda: setattr(self.ws_factory, "closeHandshakeTimeout", CLOSE_HANDSHAKE_SECONDS)
        )
        reactor.callWhenRunning(lambda: setattr(self.ws_factory, "protocol", BoundedSocket))
        reactor.callWhenRunning(lambda: bound_event_streams(self.http_factory))
        reactor.callWhenRunning(start_server_tasks)
        # After startup, which installs the reactor's signal handlers.
        longest_wait = max(self.application_close_timeout, SERVER_TASKS_STOP_SECONDS)
        reactor.callWhenRunning(arm_exit_deadline, longest_wait + EXIT_MARGIN_SECONDS)
        self.collector.install()  # last: what startup built is frozen
        super().run()


# The exit status of a server that stopped without something that would not stop.
FORCED_EXIT_STATUS = 1


async def _await_killed(instances: list[asyncio.Future], timeout: float) -> None:
    if not instances:
        return
    _, pending = await asyncio.wait(instances, timeout=timeout)
    if pending:
        logger.warning(
            "application instances still stopping; exiting without them: %s",
            [_where(instance) for instance in pending],
        )
        reactor.addSystemEventTrigger("after", "shutdown", os._exit, FORCED_EXIT_STATUS)


def _where(task: asyncio.Future) -> str:
    """Where a task waits: its innermost frame."""
    stack = task.get_stack() if isinstance(task, asyncio.Task) else []
    if not stack:
        return repr(task)
    frame = stack[-1]
    return f"{frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})"


def in_own_context(trigger: Callable[[], Deferred]) -> Deferred:
    """Run a shutdown trigger, and the tasks it starts, in a context of their own.

    The reactor fires its shutdown triggers in the context that was current when SIGTERM was
    handled: any task's. A signal handled while the loop ran an async_to_sync coroutine (a
    simulator announcing readings) left asgiref's marks of that call there, and sync_to_async
    went to its finished CurrentThreadExecutor ("already quit or is broken") instead of
    Django's sync thread; and the shutdown's log lines carried some socket's ids."""
    return contextvars.Context().run(trigger)


_server_tasks: set[asyncio.Task] = set()  # referenced, so the loop does not drop them


def start_server_tasks() -> None:
    """Start SWITCHBOARD_SERVER_TASKS on the server's loop (the application has set Django up)."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    # First: tasks started before a later path fails to import are stopped all the same.
    reactor.addSystemEventTrigger("before", "shutdown", stop_server_tasks)
    loop = asyncio.get_event_loop()
    for path in getattr(settings, "SWITCHBOARD_SERVER_TASKS", ()):
        task = loop.create_task(import_string(path)())
        _server_tasks.add(task)
        task.add_done_callback(_server_task_done)


# How long a stopping server waits, in all, for its tasks to finish once cancelled and for the
# sync work they left running.
SERVER_TASKS_STOP_SECONDS = 5


# What a stopping server waits for is bounded (SERVER_TASKS_STOP_SECONDS and the application
# close timeout, at the same time); this long past the longer of the two, it exits.
EXIT_MARGIN_SECONDS = 3
_deadline_armed = False


def arm_exit_deadline(seconds: float) -> None:
    """From the first SIGTERM or SIGINT on, the process has `seconds` to end. Past them,
    faulthandler's own thread, which needs neither the event loop nor the GIL, writes every
    thread's stack to stderr and exits with status 1. That covers what the bounded waits
    cannot: a loop blocked by a task (the reactor never gets to its shutdown), and a thread
    that never ends, which the interpreter joins at exit."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(signum)
        if callable(handler):
            signal.signal(signum, partial(_arm_then_handle, handler, seconds))


def _arm_then_handle(handler: Callable, seconds: float, number: int, frame: Any) -> None:
    global _deadline_armed
    if not _deadline_armed:  # a second Ctrl+C does not put the deadline off
        _deadline_armed = True
        faulthandler.dump_traceback_later(seconds, exit=True)
    handler(number, frame)


def stop_server_tasks() -> Deferred:
    """Cancel the server tasks, and let them and the sync work they started finish while the
    loop runs, within SERVER_TASKS_STOP_SECONDS in all (past that, the process exits without
    them).

    A simulator tick in Django's sync thread announces its readings with async_to_sync, which
    waits for the loop; once the loop has stopped it waits forever, and the process (joining
    its threads at exit) never ends after SIGTERM. The reactor waits for this Deferred before
    it stops."""
    return in_own_context(lambda: Deferred.fromFuture(asyncio.ensure_future(_stop_server_tasks())))


async def _stop_server_tasks() -> None:
    deadline = asyncio.get_running_loop().time() + SERVER_TASKS_STOP_SECONDS
    tasks = list(_server_tasks)
    for task in tasks:
        task.cancel()
    stuck: list[str] = []
    if tasks:
        # Their own cleanup first (an MQTT disconnect, an HTTP client closing), bounded: a task
        # that never finishes it must not keep the process alive. A task cancelled while it
        # awaits sync work waits for that work (asgiref), so the one deadline covers both.
        _, pending = await asyncio.wait(tasks, timeout=SERVER_TASKS_STOP_SECONDS)
        stuck = [task.get_coro().__qualname__ for task in pending]
    # Then the sync work they started (a reading being stored), in what is left of the time,
    # even when a task is stuck: the sync thread takes work in order, so this no-op runs once
    # what they left there is done.
    try:
        async with asyncio.timeout_at(deadline):
            await sync_to_async(lambda: None)()
    except TimeoutError:
        stuck.append("the sync work they started")
    except Exception:  # the sync thread could not be reached: do not trust that it is idle
        logger.warning("could not wait for the server tasks' sync work", exc_info=True)
        stuck.append("the sync work they started")
    if stuck:
        # Once the loop stops these never finish, and the exit would wait on them forever.
        logger.warning("server tasks still stopping; exiting without them: %s", stuck)
        reactor.addSystemEventTrigger("after", "shutdown", os._exit, FORCED_EXIT_STATUS)


def _server_task_done(task: asyncio.Task) -> None:
    _server_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("server task failed", exc_info=task.exception())


class ClosingCommandLine(CommandLineInterface):
    server_class = ClosingServer


# How long a socket closed for reading too slowly has to take in its close frame (behind what
# is already buffered for it) before the connection is dropped.
TOO_SLOW_GRACE_SECONDS = 5
# How long an event stream may keep more than SWITCHBOARD_MAX_SEND_BUFFER_BYTES unread before
# it is dropped (BoundedRequest).
STREAM_BEHIND_SECONDS = 5
# How long the server waits for a peer to answer its close frame before it drops (resets) the
# connection. autobahn's default, 1 s, is less than a busy client (a phone, a loaded test run)
# may take; the reset then ends the client's connection before it has read the close frame,
# and the page sees 1006 instead of 1009, 4011 or a ban's code (tests/integration/test_leaks.py
# saw it now and then under load).
CLOSE_HANDSHAKE_SECONDS = 5


class BoundedSocket(WebSocketProtocol):
    """Daphne's WebSocket protocol with two limits on what the server sends.

    Frame size: autobahn applies --websocket-max-message-size to frames it sends as well as
    to those it receives, so a 70 KiB dashboard snapshot or notes document was refused (and the
    app, failing, closed the socket). The inbound limit stays; outgoing frames get
    SWITCHBOARD_MAX_OUTGOING_FRAME_BYTES.

    Send buffer: Twisted buffers whatever is written to a connection, without bound, while the
    peer does not read. Past SWITCHBOARD_MAX_SEND_BUFFER_BYTES the transport pauses its
    producer (Twisted's flow control); this socket registers itself as that producer and, when
    paused, closes with 4013 (resumable) and drops whatever the app still sends. A peer that
    does not take even the close frame within TOO_SLOW_GRACE_SECONDS is dropped. Either way
    Daphne sends `websocket.disconnect` and the app releases the socket.
    """

    too_slow = False

    def onOpen(self) -> None:  # noqa: N802 - autobahn's names, here and below
        super().onOpen()
        from django.conf import settings  # the application has set Django up by now

        self.max_outgoing = settings.SWITCHBOARD_MAX_OUTGOING_FRAME_BYTES
        # The HTTP channel that did the upgrade is still the transport's producer: it would
        # stop reading the socket while the send buffer is full (never seeing the client's
        # close) and never stop the writing. This socket takes its place.
        self.transport.unregisterProducer()
        self.transport.bufferSize = settings.SWITCHBOARD_MAX_SEND_BUFFER_BYTES
        self.transport.registerProducer(SendBufferGuard(self), True)
        if writes_through(self.transport):
            self.transport.write = partial(write_through, self.transport)
        self._drop_handshake()

    # What autobahn keeps of the opening handshake (the raw request and response, the parsed
    # headers) and never reads again: a few KiB a socket for as long as it is open.
    HANDSHAKE_LEFTOVERS = (
        "http_request_data", "http_response_data", "http_headers", "http_headers_cnt",
        "http_request_params", "http_status_line", "http_request_uri",
    )  # fmt: skip

    def _drop_handshake(self) -> None:
        for name in self.HANDSHAKE_LEFTOVERS:
            if name in self.__dict__:
                setattr(self, name, None)
        # Daphne reads only the path of the request afterwards (in its access log lines).
        self.request = HandshakePath(self.request.path)

    def sendMessage(self, payload: bytes, *args, **kwargs) -> None:  # noqa: N802
        inbound, self.maxMessagePayloadSize = self.maxMessagePayloadSize, self.max_outgoing
        try:
            super().sendMessage(payload, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = inbound

    def _connectionMade(self) -> None:  # noqa: N802
        """autobahn's, without the `pformat` of this socket's 29 settings that it makes for a
        debug line, logging on or off: 86 µs of every connect (4 % of one)."""
        if _autobahn_debug():
            super()._connectionMade()
            return
        formatting = autobahn_protocol.pformat
        autobahn_protocol.pformat = _unformatted  # this call only: the reactor runs one at once
        try:
            super()._connectionMade()
        finally:
            autobahn_protocol.pformat = formatting

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:  # noqa: N802
        """autobahn's `sendData` without its debug line: autobahn formats that line (the
        method's qualified name and the peer, styled by click) for every frame it writes,
        whether debug logging is on or not: 8 % of a busy server's CPU in bench.fanout. The
        common case (nothing queued, no chopping, no octet logging) is written here; the rest,
        and debug logging, go through autobahn."""
        if sync or chopsize or self.send_queue or self.logOctets or _autobahn_debug():
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        if self.state == self.STATE_OPEN:
            self.trafficStats.outgoingOctetsWireLevel += len(data)
        elif self.state in (self.STATE_CONNECTING, self.STATE_PROXY_CONNECTING):
            self.trafficStats.preopenOutgoingOctetsWireLevel += len(data)

    def onMessage(self, payload, isBinary) -> None:  # noqa: N802, N803
        if not self.too_slow:  # once closing it for that, its further frames are moot
            super().onMessage(payload, isBinary)

    def serverSend(self, content, binary=False) -> None:  # noqa: N802
        if self.too_slow or self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            return  # the socket is closing: the app hears of it with websocket.disconnect
        super().serverSend(content, binary)

    def fell_behind(self) -> None:
        """The peer left more than the send buffer's worth unread: close it (once)."""
        if self.too_slow or self.state != self.STATE_OPEN:
            return
        self.too_slow = True
        from realtime.metrics import SOCKETS_TOO_SLOW

        SOCKETS_TOO_SLOW.inc()
        logger.warning("socket %s reads too slowly; closing it", self.client_addr)
        # Not from inside the write that overflowed (autobahn may be mid-frame): next turn.
        reactor.callLater(0, self._close_too_slow)

    def _close_too_slow(self) -> None:
        if self.state != self.STATE_OPEN:
            return
        self.closeHandshakeTimeout = TOO_SLOW_GRACE_SECONDS  # this socket's only
        self.sendClose(code=int(CloseCode.TOO_SLOW), reason="You read too slowly; resume.")


class BoundedRequest(WebRequest):
    """Daphne's HTTP request, with a bound on what an event stream's client leaves unread.

    An event stream (`text/event-stream`, realtime.sse) is written as its events come, and
    Twisted buffers whatever the client leaves unread, without bound: a reader that stopped
    reading held every later event of its room in the server's memory. Here, a stream whose
    send buffer stays over SWITCHBOARD_MAX_SEND_BUFFER_BYTES for STREAM_BEHIND_SECONDS is
    dropped: Daphne tells the app (`http.disconnect`), which ends the stream and gives its
    slot back, and EventSource reconnects and resumes after the last event it read
    (Last-Event-ID). Twisted counts what the app wrote in one turn before the kernel was
    offered any of it, so a resume's replay goes over the bound for a reader that takes it at
    once: that is over within milliseconds, and does not count. Other responses are whole
    when the app hands them over (a page, a file) and keep Twisted's buffering.
    """

    behind_since: float | None = None  # when the send buffer went over the bound, if it is
    buffer_size: int | None = None  # the transport's own bound, given back when the stream ends

    def handle_reply(self, message: dict) -> None:
        super().handle_reply(message)
        started = message["type"] == "http.response.start" and not self.finished
        if started and is_event_stream(message) and getattr(self, "channel", None):
            from django.conf import settings

            transport = self.channel.transport
            self.buffer_size = transport.bufferSize  # the connection may serve more requests
            transport.bufferSize = settings.SWITCHBOARD_MAX_SEND_BUFFER_BYTES
            self.registerProducer(StreamBufferGuard(self), True)

    def finish(self) -> None:
        """Every way a response ends (its last body, Daphne's HTTP timeout)."""
        if isinstance(self.producer, StreamBufferGuard):
            self.unregisterProducer()
            self.channel.transport.bufferSize = self.buffer_size
        super().finish()

    def fell_behind(self) -> None:
        if self.behind_since is None:
            self.behind_since = since = time.monotonic()
            reactor.callLater(STREAM_BEHIND_SECONDS, self._drop_if_still_behind, since)

    def caught_up(self) -> None:
        self.behind_since = None

    def _drop_if_still_behind(self, since: float) -> None:
        channel = getattr(self, "channel", None)  # a finished request has let go of it
        if self.behind_since != since or self.finished or channel is None:
            return
        from realtime.metrics import STREAMS_TOO_SLOW

        STREAMS_TOO_SLOW.inc()
        logger.warning("event stream to %s reads too slowly; dropping it", self.client_addr)
        channel.transport.abortConnection()


@implementer(IPushProducer)
class StreamBufferGuard:
    """A BoundedRequest's producer: Twisted pauses it while the send buffer is over its bound
    and resumes it once the buffer is written out."""

    def __init__(self, request: BoundedRequest) -> None:
        self.request = request

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.request.fell_behind()

    def resumeProducing(self) -> None:  # noqa: N802
        self.request.caught_up()

    def stopProducing(self) -> None:  # noqa: N802
        pass


def is_event_stream(message: dict) -> bool:
    """Whether an `http.response.start` starts Server-Sent Events."""
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
    return False


def bound_event_streams(factory) -> None:
    """Daphne's HTTP factory, making BoundedRequests (it sets its request class on every
    connection it builds)."""
    build = factory.buildProtocol

    def build_protocol(addr):
        protocol = build(addr)
        if protocol is not None:
            protocol.requestFactory = BoundedRequest
        return protocol

    factory.buildProtocol = build_protocol


def _autobahn_debug() -> bool:
    return txaio.get_global_log_level() in ("debug", "trace")


def _unformatted(*args: Any, **kwargs: Any) -> str:
    return ""


class HandshakePath:
    """What Daphne reads of a socket's opening request once it is open."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def writes_through(transport: Any) -> bool:
    """Whether `write_through` may stand in for the transport's `write`: a plain TCP
    connection only. A TLS listener's transport is a wrapper (TLSMemoryBIOProtocol) that
    passes attribute lookups through to the TCP connection under it, whose socket must only
    ever carry what the TLS layer encrypted."""
    return isinstance(transport, tcp.Connection) and not transport.TLS


def write_through(transport: Any, data: bytes) -> None:
    """A plain TCP transport's `write`, sending at once when nothing is queued before it.

    Twisted's `write` only queues the bytes and asks the reactor to watch the socket for
    writability; the next turn of the loop sends them and stops watching. Under the asyncio
    reactor that is two epoll_ctl calls and one more wake-up for every frame, about half of
    what a frame cost to deliver (py-spy on bench.games' servers). A frame now goes straight to
    the kernel's send buffer; whatever does not fit (a slow reader), or follows something
    already queued, is queued as before, so the order, the send-buffer bound and the errors of
    a dead connection are Twisted's own."""
    if (
        transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not getattr(transport, "_aborting", False)
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # full (EAGAIN), or dead: Twisted's own write finds out which
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    FileDescriptor.write(transport, data)


@implementer(IPushProducer)
class SendBufferGuard:
    """The transport's producer for a BoundedSocket: paused means the send buffer is full."""

    def __init__(self, socket: BoundedSocket) -> None:
        self.socket = socket

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.socket.fell_behind()

    def resumeProducing(self) -> None:  # noqa: N802
        pass

    def stopProducing(self) -> None:  # noqa: N802
        pass


M_ARENA_MAX = -8  # glibc's mallopt() parameter (malloc.h)


def limit_malloc_arenas(arenas: int = 1) -> None:
    """glibc gives each thread that allocates its own malloc arena, and the memory Django's sync
    threads free stays in theirs: one arena (MALLOC_ARENA_MAX=1) took RSS per open room socket
    from 36.5 to 30.3 KiB here. Python threads allocate under the GIL, so they hardly contend
    for it. Set before any thread starts; other C libraries are left alone, and an explicit
    MALLOC_ARENA_MAX wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc after all
        ctypes.CDLL(libc_name).mallopt(M_ARENA_MAX, arenas)


def main() -> None:
    limit_malloc_arenas()
    args = sys.argv[1:]
    if any(a.startswith("--proxy-headers") for a in args):
        # Daphne's option believes the leftmost X-Forwarded-For, which the client writes;
        # realtime.proxy decides from SWITCHBOARD_TRUSTED_PROXIES instead.
        sys.exit("--proxy-headers is refused: set SWITCHBOARD_TRUSTED_PROXIES (see README).")
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        args = ["--websocket-max-message-size", "65536", *args]
    if not any(a.startswith("--ping-interval") for a in args):
        args = ["--ping-interval", str(PING_SECONDS), *args]
    if not any(a.startswith("--websocket_connect_timeout") for a in args):
        # Daphne's 5 s also bounds autobahn's opening handshake; a burst of handshakes waiting
        # on the one sync thread can take longer, and would be dropped with no HTTP answer.
        args = ["--websocket_connect_timeout", "20", *args]
    ClosingCommandLine().run(args)


if __name__ == "__main__":
    main()
