import contextlib
import glob
import os
import shutil
import sys
import tempfile

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache
from rest_framework.test import APIClient

from realtime.store import rate_limits_reset
from tests.factories import UserFactory
from tests.support.procs import TEMPLATES_ENV


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


# The order modules start in, longest first, so that parallel workers finish together
# (`make test` runs pytest-xdist with --no-loadscope-reorder, which keeps this order): the soak
# and the in-process fuzz, then the browser modules (in a row, so that a worker's run of them
# shares one Chromium), the modules that start processes, then the many short ones, which fill
# in at the end.
HEAVIEST_FIRST = ("soak", "slow", "browser", "integration")


def _module_weight(items: list[pytest.Item]) -> tuple[int, int]:
    first = items[0]
    marks = [i for i, name in enumerate(HEAVIEST_FIRST) if first.get_closest_marker(name)]
    return min(marks) if marks else len(HEAVIEST_FIRST), -len(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules stay whole and in file order inside; the modules themselves go heaviest first."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    for name, module in modules.items():
        # An unmarked test would close the browser the module's other tests hold (below).
        marked = {bool(item.get_closest_marker("browser")) for item in module}
        if len(marked) > 1:
            raise pytest.UsageError(f"{name}: mark all of its tests browser, or none")
    ordered = sorted(modules.values(), key=_module_weight)
    items[:] = [item for module in ordered for item in module]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Close the browser the browser modules shared (tests/e2e/helpers.py) once another kind of
    test starts: Playwright's sync API leaves its event loop marked as running in this thread,
    where async tests and asyncio.run need none."""
    if not item.get_closest_marker("browser"):
        _close_shared_browser()


def _close_shared_browser() -> None:
    helpers = sys.modules.get("tests.e2e.helpers")  # imported only where browser tests ran
    if helpers is not None:
        helpers.close_shared_browser()


def pytest_configure(config: pytest.Config) -> None:
    """The run's directory of template databases (tests/support/procs.py), made by the process
    that starts the workers, which inherit it; a worker or a nested run uses the one it got."""
    if not hasattr(config, "workerinput") and TEMPLATES_ENV not in os.environ:
        config._switchboard_templates = tempfile.mkdtemp(prefix="switchboard-templates-")
        os.environ[TEMPLATES_ENV] = config._switchboard_templates


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = getattr(config, "_switchboard_templates", None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(TEMPLATES_ENV, None)
    # This process's SQLite test database (config/settings/test.py): Django removes the file,
    # not the WAL and shared-memory files beside it (4 MB a worker).
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for leftover in glob.glob(f"{glob.escape(name)}*"):
            with contextlib.suppress(OSError):
                os.remove(leftover)
