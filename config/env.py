"""Environment helpers shared by manage.py, asgi.py and the settings modules."""

import os


def select_settings_module() -> None:
    """Pick the settings module from DJANGO_DEBUG unless DJANGO_SETTINGS_MODULE is set.

    The contract (§7) promises that `migrate` and `daphne config.asgi:application`
    work with only the documented variables, so no settings variable is required.
    """
    debug = env_bool("DJANGO_DEBUG", False)
    os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE",
        "config.settings.local" if debug else "config.settings.production",
    )


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default
