"""Ending a user's sockets when their credentials end (logout, password change, deactivation)."""

from realtime.broadcast import control_event, control_on_commit
from realtime.closecodes import CloseCode
from realtime.groups import user_group


def user_sockets_end(*, user_id: int, session_key: str | None = None) -> None:
    """Close the user's sockets on every process with 4001: those of one session, or all.

    Sent after the surrounding transaction commits; each process's hub closes its own sockets.
    """
    control_on_commit(
        control_event(
            user_group(user_id), "hub.close", code=CloseCode.SESSION_ENDED, session=session_key
        )
    )
