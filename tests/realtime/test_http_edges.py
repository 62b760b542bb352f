"""The HTTP edges every API shares: CSRF and header credentials, the schema's login, token
rotation and revocation, request body bounds (issue 12, findings 5, 7, 8 and 12)."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from dashboard import services as dashboard_services
from realtime.auth import authenticate_header
from tests.factories import PASSWORD, make_room

pytestmark = pytest.mark.django_db


def bearer_client(user) -> APIClient:
    """A script: a Bearer token, no cookies, and CSRF checks on as Django's middleware does."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


# --- Finding 8: a Bearer request is not a browser's: no CSRF refusal ---------------------------


def test_bearer_post_to_room_messages_is_not_refused_by_csrf(user):
    make_room(creator=user)
    response = bearer_client(user).post(
        "/api/rooms/lobby/messages/", {"body": "from a script"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["body"] == "from a script"


def test_session_post_to_room_messages_still_needs_the_csrf_token(user):
    make_room(creator=user)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/api/rooms/lobby/messages/", {"body": "forged"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def _api_routes(patterns=None, prefix=""):
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            yield route, entry.callback


def test_every_api_view_leaves_csrf_to_drf():
    """DRF checks CSRF for cookie requests only (SessionAuthentication); a view that Django's
    middleware checks as well refuses Bearer and Api-Key requests with 403."""
    routes = list(_api_routes())
    assert any(route.startswith("api/rooms/") for route, _ in routes)
    checked_twice = [route for route, view in routes if not getattr(view, "csrf_exempt", False)]
    assert checked_twice == []


# --- Finding 7 (second half): the schema needs a login like every other page ---------------


def test_openapi_schema_refuses_anonymous_callers():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401


def test_openapi_schema_is_served_to_a_session_and_a_bearer_token(user):
    browser = Client()
    browser.force_login(user)
    for client in (browser, bearer_client(user)):
        response = client.get("/api/schema/?format=json")
        assert response.status_code == 200
        assert "/api/rooms/{slug}/messages/" in response.json()["paths"]


def test_openapi_schema_is_not_for_device_keys(user):
    _, key = dashboard_services.device_create(owner=user, name="Sensor")
    response = Client().get("/api/schema/?format=json", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 403


# --- Finding 5 (second half): refresh tokens rotate, and end with the password ------------


def obtain(username: str, password: str = PASSWORD) -> dict:
    response = Client().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return Client().post(
        "/api/auth/token/refresh/", {"refresh": token}, content_type="application/json"
    )


def test_refresh_tokens_rotate_and_a_used_one_is_refused(user):
    first = obtain("alice")["refresh"]
    answer = refresh(first)
    assert answer.status_code == 200
    second = answer.json()["refresh"]
    assert second != first
    assert refresh(first).status_code == 401  # a replayed (stolen) refresh token is dead
    assert refresh(second).status_code == 200


def test_a_password_change_revokes_refresh_and_access_tokens(user):
    tokens = obtain("alice")
    user.set_password("another-Passw0rd-here")
    user.save()
    assert refresh(tokens["refresh"]).status_code == 401
    old_access = Client().get("/api/rooms/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert old_access.status_code == 401
    # Sockets, SSE streams and the long poll resolve the header the same way: no one.
    socket_user, _, _ = authenticate_header(f"Bearer {tokens['access']}")
    assert not socket_user.is_authenticated
    fresh = obtain("alice", "another-Passw0rd-here")
    again = Client().get("/api/rooms/", HTTP_AUTHORIZATION=f"Bearer {fresh['access']}")
    assert again.status_code == 200


def test_deactivation_revokes_refresh_tokens_for_good(user):
    tokens = obtain("alice")
    user.is_active = False
    user.save()
    assert refresh(tokens["refresh"]).status_code == 401
    user.is_active = True  # reactivated later: the old tokens stay dead
    user.save()
    assert refresh(tokens["refresh"]).status_code == 401


def test_saving_a_user_without_a_credential_change_keeps_their_tokens(user):
    tokens = obtain("alice")
    user.first_name = "Alice"
    user.save()
    assert refresh(tokens["refresh"]).status_code == 200


# --- Finding 12: request bodies are bounded before parsing, and bad JSON is a 400 ---------------


def test_a_json_body_over_the_limit_is_refused_unparsed(api, user, settings):
    make_room(creator=user)
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = api.post(
        "/api/rooms/lobby/messages/",
        json.dumps({"body": "hello", "padding": padding}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert api.get("/api/rooms/lobby/messages/").json() == []  # nothing was stored


def test_deeply_nested_json_is_a_400_not_a_500(user):
    make_room(creator=user)
    client = bearer_client(user)
    client.raise_request_exception = False
    for body in ("[" * 100_000, "[" * 30_000 + "]" * 30_000, '{"body": ' + "[" * 50_000):
        response = client.post("/api/rooms/lobby/messages/", body, content_type="application/json")
        assert response.status_code == 400, response.status_code
        assert response.json()["code"] == "invalid_json"


def test_malformed_json_is_a_400_with_the_invalid_json_code(user):
    client = bearer_client(user)
    response = client.post("/api/rooms/", '{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_the_largest_ingest_batch_fits_under_the_body_limit(user, settings):
    """1,000 readings with the longest metric names, values and timestamps, pretty-printed."""
    _, key = dashboard_services.device_create(owner=user, name="Sensor")
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    readings = [
        {"metric": f"m{i:04d}".ljust(64, "x"), "value": -1.2345678901234567e-300, "ts": now}
        for i in range(1000)
    ]
    body = json.dumps({"readings": readings}, indent=2)
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE * 0.8  # a fifth to spare
    response = Client().post(
        "/api/ingest/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1000}
