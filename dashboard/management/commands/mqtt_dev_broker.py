"""`manage.py mqtt_dev_broker --dir .mqtt`: configuration for `make run`'s (and tests') Mosquitto.

Writes `mosquitto.conf` (one loopback listener, no anonymous clients, the dynamic-security
plugin, persistence) and, the first time, the plugin's file with an admin client of a random
password (`mosquitto_ctrl dynsec init`); then `env`, the settings the server needs to reach
that broker as its admin. Production configures its broker itself (docs/architecture.md)."""

import glob
import json
import os
import secrets
import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from dashboard.mqtt import BRIDGE_ACLS, BRIDGE_ROLE

ADMIN_USER = "switchboard"


class Command(BaseCommand):
    help = "Write a development Mosquitto configuration (and its admin credentials) to --dir."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", default=".mqtt")
        parser.add_argument("--port", type=int, default=1883)

    def handle(self, *args, dir: str, port: int, **options) -> None:
        plugins = glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")
        if not plugins:
            raise CommandError("Mosquitto's dynamic-security plugin is missing (apt mosquitto).")
        home = Path(dir).resolve()
        home.mkdir(exist_ok=True)
        dynsec, password_file = home / "dynamic-security.json", home / "admin-password"
        if not dynsec.exists() or not password_file.exists():
            password = secrets.token_urlsafe(24)
            dynsec.unlink(missing_ok=True)
            subprocess.run(
                ["mosquitto_ctrl", "dynsec", "init", str(dynsec), ADMIN_USER, password],
                check=True, capture_output=True,
            )  # fmt: skip
            # The bridge's role, for the admin client (which also runs the bridge).
            config = json.loads(dynsec.read_text())
            config["roles"].append({"rolename": BRIDGE_ROLE, "acls": BRIDGE_ACLS})
            for client in config["clients"]:
                if client["username"] == ADMIN_USER:
                    client["roles"].append({"rolename": BRIDGE_ROLE})
            dynsec.write_text(json.dumps(config, indent=2))
            password_file.write_text(password)
            password_file.chmod(0o600)
        (home / "mosquitto.conf").write_text(
            f"per_listener_settings false\n"
            f"listener {port} 127.0.0.1\n"
            f"allow_anonymous false\n"
            f"plugin {plugins[0]}\n"
            f"plugin_opt_config_file {dynsec}\n"
            f"persistence true\n"
            f"persistence_location {home}/\n"
            f"max_queued_messages 0\n"
            f"log_dest stderr\n"  # unbuffered: "mosquitto version ... running" arrives at once
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot read the
            # plugin's file under a directory only root may enter (/root, pytest's tmp_path):
            # the plugin then loads nothing and refuses every client. This broker runs as
            # whoever runs the server.
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        (home / "env").write_text(
            f"SWITCHBOARD_MQTT_URL=mqtt://127.0.0.1:{port} "
            f"SWITCHBOARD_MQTT_ADMIN_USER={ADMIN_USER} "
            f"SWITCHBOARD_MQTT_ADMIN_PASSWORD={password_file.read_text().strip()} "
            f"SWITCHBOARD_MQTT_BRIDGE_IN_SERVER=1\n"
        )
        self.stdout.write(f"Mosquitto configuration in {home}/ (MQTT on 127.0.0.1:{port})")
