"""`python -m realtime.serve`: Daphne's own command line, closing oversized frames with 1009.

Daphne enforces --websocket-max-message-size through autobahn, whose default on a frame over
the limit is to drop the TCP connection (the client sees 1006). Turning autobahn's documented
`failByDrop` option off makes the same check send a proper close frame, 1009 "message too big",
as CONTRACT.md §4 promises. Every other option and behaviour is stock Daphne.
"""

import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor


class ClosingServer(Server):
    def run(self) -> None:
        # Server.run builds ws_factory and then starts the reactor, so this runs after the former.
        # Set the one attribute: setProtocolOptions() would also reset Daphne's allowNullOrigin,
        # and autobahn would then answer `Origin: null` with 400 before the app can say 403.
        reactor.callWhenRunning(lambda: setattr(self.ws_factory, "failByDrop", False))
        super().run()


class ClosingCommandLine(CommandLineInterface):
    server_class = ClosingServer


def main() -> None:
    args = sys.argv[1:]
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        args = ["--websocket-max-message-size", "65536", *args]
    if not any(a.startswith("--websocket_connect_timeout") for a in args):
        # Daphne's 5 s also bounds autobahn's opening handshake; a burst of handshakes waiting
        # on the one sync thread can take longer, and would be dropped with no HTTP answer.
        args = ["--websocket_connect_timeout", "20", *args]
    ClosingCommandLine().run(args)


if __name__ == "__main__":
    main()
