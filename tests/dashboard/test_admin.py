"""Django admin for devices, dashboards and alert rules: changes go through dashboard.services
(a revoked key closes the device's sockets and is recorded) or are not offered at all."""

import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import LogEntry
from django.test import Client

from dashboard import services
from dashboard.models import AlertRule, Dashboard, Device
from tests.chat.test_consumers import closed_with
from tests.dashboard.test_sockets import device_socket
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def admin_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


async def test_revoking_a_key_in_admin_closes_the_device_socket_and_is_recorded(
    layer, user, staff, caplog
):
    device, key = await sync_to_async(services.device_create)(owner=user, name="Greenhouse")
    sensor, connected = await device_socket(key)
    assert connected
    caplog.set_level(logging.INFO, logger="dashboard.services")
    client = await sync_to_async(admin_client)(staff)
    answer = await sync_to_async(client.post)(
        "/admin/dashboard/device/", {"action": "revoke_keys", "_selected_action": [device.pk]}
    )
    assert answer.status_code == 302
    assert await closed_with(sensor) == 4003
    assert await sync_to_async(services.device_authenticate)(key=key) is None
    entry = await sync_to_async(LogEntry.objects.select_related("user").get)(
        object_id=str(device.pk)
    )
    assert entry.user == staff and "revoked" in entry.get_change_message()
    [record] = [r for r in caplog.records if r.getMessage().startswith("device key revoked")]
    assert record.device == device.pk and record.actor == staff.pk


def test_the_device_change_form_cannot_move_a_device_or_make_it_builtin(user, other, staff):
    device, key = services.device_create(owner=user, name="Greenhouse")
    client = admin_client(staff)
    answer = client.post(
        f"/admin/dashboard/device/{device.pk}/change/",
        {"name": "Renamed", "owner": other.pk, "is_builtin": "on"},
    )
    assert answer.status_code == 302
    device.refresh_from_db()
    assert (device.name, device.owner, device.is_builtin) == ("Renamed", user, False)
    assert client.get("/admin/dashboard/device/add/").status_code == 403  # keys come from the API
    assert (
        client.post(f"/admin/dashboard/device/{device.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Device.objects.filter(pk=device.pk).exists()


def test_dashboards_and_alert_rules_are_read_only_in_admin(user, other, staff):
    device, _ = services.device_create(owner=user, name="Home")
    dashboard = services.dashboard_create(
        owner=user, name="Ops", slug="ops", is_public=False,
        panels=[{"title": "T", "device": device, "metric": "t"}],
    )  # fmt: skip
    [panel] = dashboard.panels.all()
    theirs, _ = services.device_create(owner=other, name="Private")
    rule = services.alert_rule_create(owner=user, device=device, metric="t", op=">", threshold=1)
    client = admin_client(staff)
    assert client.get(f"/admin/dashboard/dashboard/{dashboard.pk}/change/").status_code == 200
    client.post(
        f"/admin/dashboard/dashboard/{dashboard.pk}/change/",
        {"name": "Ops", "slug": "ops", "owner": other.pk, "is_public": "on",
         # Charting someone else's private device: what services.panel_add refuses.
         "panels-TOTAL_FORMS": 1, "panels-INITIAL_FORMS": 1, "panels-0-id": panel.pk,
         "panels-0-dashboard": dashboard.pk, "panels-0-title": "T", "panels-0-device": theirs.pk,
         "panels-0-metric": "t", "panels-0-kind": "line", "panels-0-thresholds": "{}",
         "panels-0-position": 0},
    )  # fmt: skip
    dashboard.refresh_from_db()
    panel.refresh_from_db()
    assert (dashboard.owner, dashboard.is_public, panel.device) == (user, False, device)
    client.post(
        f"/admin/dashboard/alertrule/{rule.pk}/change/",
        {"owner": other.pk, "device": device.pk, "metric": "t", "op": "<", "threshold": 5,
         "for_seconds": 0},
    )  # fmt: skip
    rule.refresh_from_db()
    assert (rule.owner, rule.op, rule.threshold) == (user, ">", 1)
    for model in ("dashboard", "alertrule"):
        assert client.get(f"/admin/dashboard/{model}/add/").status_code == 403
    for model, pk in (("device", device.pk), ("dashboard", dashboard.pk), ("alertrule", rule.pk)):
        assert client.get(f"/admin/dashboard/{model}/").status_code == 200  # staff still see them
        assert client.get(f"/admin/dashboard/{model}/{pk}/change/").status_code == 200
    assert Dashboard.objects.count() == 1 and AlertRule.objects.count() == 1
