"""bench.games' instrument: a player's tick is timed when it reached the player's machine (the
kernel's receive time), not when the one harness process, 400 players, got round to it."""

import socket
import time

from bench.games import KernelStampedSocket


def test_a_kernel_stamped_socket_times_bytes_when_they_arrive_not_when_they_are_read():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        player = KernelStampedSocket(socket.AF_INET, socket.SOCK_STREAM).enable()
        with player:
            player.connect(listener.getsockname())
            server, _ = listener.accept()
            with server:
                stamping_on(server, player)
                stamps = []
                for frame in (b"tick 1", b"tick 2"):
                    sent_at = time.time()
                    server.sendall(frame)
                    time.sleep(0.05)  # noqa: sleep-ok the harness is busy: it reads late
                    assert player.recv(64) == frame
                    stamps.append((sent_at, player.received_at, time.time()))
    for sent_at, received_at, read_at in stamps:
        assert sent_at - 0.005 <= received_at <= sent_at + 0.02  # loopback: at once
        assert read_at - received_at >= 0.045  # the read came 50 ms later
    assert stamps[1][1] > stamps[0][1]


def stamping_on(server: socket.socket, player: KernelStampedSocket) -> None:
    """The first socket that asks for stamps turns them on for the machine a moment later (a
    deferred kernel work item): until then what it reads is not stamped (received_at None)."""
    for _ in range(100):
        server.sendall(b".")
        player.recv(64)
        if player.received_at is not None:
            return
        time.sleep(0.01)  # noqa: sleep-ok the kernel's work item runs on its own schedule
    raise AssertionError("the kernel never stamped what this socket received")
