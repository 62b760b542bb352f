"""Schemathesis over the OpenAPI schema: no input the schema allows makes the API answer 5xx,
whichever credential carries it: a browser session (with its CSRF token), a Bearer token or a
device's Api-Key.

Every operation gets generated cases under each credential (but the session's at ingestion,
which refuses it before anything else). The coverage phase (each field's boundary and
wrong-typed values, hundreds of cases per operation) runs under the credential that gets past
authentication to the operation's validation: the session for everything but ingestion, which
only a device key reaches (a Bearer token reaches what the session does)."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client, TestCase
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.config import SchemathesisConfig

from chat import services
from dashboard import services as dashboard_services
from tests.factories import UserFactory, make_room
from tests.support.scale import scaled

# `make test` tries a few cases per operation and credential; `make soak` (scale) tries many.
pytestmark = [pytest.mark.slow, pytest.mark.scale]

app = get_wsgi_application()
# The schema as /api/schema/ serves it; generated here because that URL needs a login, and
# there are no users before the test database exists.
spec = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = schemathesis.openapi.from_dict(spec)
generated_only = schemathesis.openapi.from_dict(
    spec, config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
)
INGEST = "/api/ingest/"  # the device key's own operation


@pytest.fixture
def credential(request, db, settings) -> dict:
    """`headers` and `cookies` that authenticate each request as one kind of caller.

    The rate limits are lifted here, once per test, and not in the test's body: that runs once
    per generated case, hundreds of times with schemathesis's coverage phase, and each setting
    there nests one more override, until Django's settings lookup overflows the stack (a 500)."""
    settings.SWITCHBOARD_REST_WRITE_RATE = "100000/min"
    settings.SWITCHBOARD_CHAT_SEND_RATE = "100000/minute"
    user = UserFactory(username="fuzzer")
    room = make_room(creator=user, name="Lobby", slug="lobby")
    services.message_create(room=room, author=user, body="seed")
    if request.param == "bearer":
        return {"headers": {"Authorization": f"Bearer {AccessToken.for_user(user)}"}}
    if request.param == "api_key":
        _, key = dashboard_services.device_create(owner=user, name="Fuzzed sensor")
        return {"headers": {"Authorization": f"Api-Key {key}"}}
    browser = Client()
    browser.force_login(user)
    browser.get("/")  # sets the csrftoken cookie, as the page does
    csrftoken = browser.cookies["csrftoken"].value
    return {
        "headers": {"X-CSRFToken": csrftoken},
        "cookies": {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrftoken},
    }


FUZZ_SETTINGS = hypothesis_settings(
    max_examples=scaled(quick=10, full=300), deadline=None, suppress_health_check=list(HealthCheck)
)


def assert_no_server_error(case, credential: dict) -> None:
    # The request runs inside the test's transaction, rolled back after the test (a flush of
    # every table after each of these hundred-odd tests cost more than their cases): as in
    # Django's test Client, the request's end must not close the connection it shares.
    # Each case in a savepoint of its own, as a request is a transaction of its own: a database
    # error in one is not charged to the next. What it left for after the commit runs at its
    # end, as it would after the commit.
    signals.request_finished.disconnect(close_old_connections)
    signals.request_started.disconnect(close_old_connections)
    try:
        with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            response = case.call(app=app, **credential)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    # Never a CSRF refusal: the session sends its token, and header credentials need none.
    assert "CSRF" not in response.text, (case.method, case.formatted_path, response.text[:200])


@schema.exclude(path=INGEST).parametrize()
@FUZZ_SETTINGS
@pytest.mark.parametrize("credential", ["session"], indirect=True)
def test_no_server_errors(case, credential):
    assert_no_server_error(case, credential)


@schema.include(path=INGEST).parametrize()
@FUZZ_SETTINGS
@pytest.mark.parametrize("credential", ["api_key"], indirect=True)
def test_no_server_errors_at_ingestion_with_the_device_key(case, credential):
    assert_no_server_error(case, credential)


@generated_only.parametrize()
@FUZZ_SETTINGS
@pytest.mark.parametrize("credential", ["bearer", "api_key"], indirect=True)
def test_no_server_errors_with_a_header_credential(case, credential):
    assert_no_server_error(case, credential)
