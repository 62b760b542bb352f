"""Every WebSocket close code the application sends, and what each tells the client.

The one table: consumers, services and streams import their codes from here, and
docs/protocol.md lists the same ones. Daphne (autobahn) refuses application codes outside
1000 and 3000-4999 ("invalid close code", and then `disconnect` never runs), so every code the
app sends is a 4xxx code: 4009 stands for 1009 and 4011 for 1011.
"""

from enum import IntEnum


class CloseCode(IntEnum):
    # The credentials ended: logout, password change, deactivation, an expired token.
    SESSION_ENDED = 4001
    # Access revoked: banned, kicked or removed from the room; a device key rotated or revoked.
    ACCESS_REVOKED = 4003
    # Repeated abuse after `rate_limited`.
    ABUSE = 4008
    # A frame over the size limit reached the application (Daphne itself closes with 1009).
    FRAME_TOO_BIG = 4009
    # The notes refused this socket's update: it does not apply to the document, or it would
    # take the document over SWITCHBOARD_MAX_NOTE_BYTES. Reconnecting would send it again:
    # reload the saved notes instead.
    UPDATE_REFUSED = 4010
    # The server failed handling this socket; reconnect and resume (as 1011, which Daphne
    # will not send for an application).
    SERVER_ERROR = 4011
    # The client read too slowly and the server stopped buffering for it; reconnect and resume.
    TOO_SLOW = 4013

    @property
    def resumable(self) -> bool:
        """Whether a client should reconnect (and resume) after this code."""
        return self in {CloseCode.SERVER_ERROR, CloseCode.TOO_SLOW}
