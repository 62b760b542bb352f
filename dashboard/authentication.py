"""`Authorization: Api-Key <key>` for devices, on REST (this class) and sockets (realtime.auth)."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from dashboard.services import device_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    """request.user is the device's owner and request.auth the Device."""

    keyword = "Api-Key"

    def authenticate(self, request):
        scheme, _, key = get_authorization_header(request).decode("latin1").partition(" ")
        if scheme != self.keyword:
            return None
        device = device_authenticate(key=key.strip())
        if device is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        return device.owner, device

    def authenticate_header(self, request) -> str:
        return self.keyword
