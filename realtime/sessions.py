"""Ending a user's credentials: their sockets and streams (logout, password change,
deactivation) and, with the password or the account, their refresh tokens."""

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

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


def user_tokens_revoke(*, user_id: int) -> int:
    """Blacklist every outstanding refresh token of the user; how many were still live."""
    live = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(revoked)


def user_credentials_end(*, user_id: int) -> None:
    """A new password or a deactivated account: every socket, stream and refresh token ends.

    Access tokens end too: they carry a hash of the password (SIMPLE_JWT CHECK_REVOKE_TOKEN),
    and JWTAuthentication refuses an inactive user."""
    user_tokens_revoke(user_id=user_id)
    user_sockets_end(user_id=user_id)
