"""What each kind of credential may reach: declared here once, checked by every transport.

| credential | how it arrives | reaches |
|---|---|---|
| session | the `sessionid` cookie (browsers) | everything its user may do (`USER`) |
| JWT | `Authorization: Bearer` | everything its user may do (`USER`), until it expires |
| device key | `Authorization: Api-Key` | `/api/ingest/` and `/ws/devices/` (`INGEST`) only |

A device key stands for a device, not for its owner: it reads no room, sends no message and
creates nothing, so a leaked key costs one device's readings. REST views declare the scope
they need as `credential_scope` (default `USER`) and `CredentialScopePermission` checks it;
sockets declare it on the consumer (LiveConsumer.credential_scope); the SSE streams and the
long poll ask `stream_credential`.
"""

from rest_framework.permissions import BasePermission

USER = "user"
INGEST = "ingest"

SESSION = "session"
JWT = "jwt"
DEVICE_KEY = "device_key"

SCOPES: dict[str, frozenset[str]] = {
    SESSION: frozenset({USER}),
    JWT: frozenset({USER}),
    DEVICE_KEY: frozenset({INGEST}),
}

REFUSAL = "This credential cannot be used here: device keys reach ingestion only."


def allows(kind: str, scope: str) -> bool:
    """Whether a credential of `kind` may reach a path that needs `scope`."""
    return scope in SCOPES.get(kind, frozenset())


class CredentialScopePermission(BasePermission):
    """DRF's side: the view's `credential_scope` against the request's credential."""

    message = REFUSAL

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return True  # IsAuthenticated answers 401 for these
        kind = getattr(request.successful_authenticator, "credential", SESSION)
        return allows(kind, getattr(view, "credential_scope", USER))
