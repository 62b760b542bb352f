import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache
from rest_framework.test import APIClient

from realtime.store import rate_limits_reset
from tests.factories import UserFactory


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other(db):
    return UserFactory(username="bob")


@pytest.fixture
def api(user):
    """An API client logged in as `user`, enforcing CSRF like a browser session."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the csrftoken cookie
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """DRF throttles count in the cache, and rate limits in this process: both outlive a test."""
    cache.clear()
    rate_limits_reset()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path_factory):
    """Uploads (attachments) go to a directory of each test's own, never the worktree's."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    return settings.MEDIA_ROOT


@pytest.fixture
async def layer():
    """The in-memory channel layer, emptied after each test (groups outlive event loops)."""
    channel_layer = get_channel_layer()
    yield channel_layer
    await channel_layer.flush()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop marked running in this
    thread while a browser is open, which the async tests cannot run beside."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
