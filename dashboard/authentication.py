"""`Authorization: Api-Key <key>` for devices, on REST (this class) and sockets (realtime.auth)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from dashboard.services import device_authenticate
from realtime.credentials import DEVICE_KEY


class ApiKeyAuthentication(BaseAuthentication):
    """request.user is the device's owner and request.auth the Device."""

    keyword = "Api-Key"
    credential = DEVICE_KEY  # reaches what realtime.credentials lets a device key reach

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


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the Api-Key header in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: the key shown once when the device was created.",
        }
