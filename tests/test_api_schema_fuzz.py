"""Schemathesis over the OpenAPI schema: no input the schema allows makes the API answer 5xx."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import AccessToken

from chat import services
from tests.factories import UserFactory, make_room

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def bearer(transactional_db):
    user = UserFactory(username="fuzzer")
    room = make_room(creator=user, name="Lobby", slug="lobby")
    services.message_create(room=room, author=user, body="seed")
    return f"Bearer {AccessToken.for_user(user)}"


@schema.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db(transaction=True)  # the WSGI app closes connections after each request
def test_no_server_errors(case, bearer, settings):
    settings.SWITCHBOARD_REST_WRITE_RATE = "100000/min"
    response = case.call(headers={"Authorization": bearer})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
