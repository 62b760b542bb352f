from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _search_index(using: str = "default", **kwargs) -> None:
    """Keep SQLite's full-text triggers in place after every migrate (chat.search)."""
    from django.db import connections

    from chat.search import install_sqlite_index

    install_sqlite_index(connections[using])


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        post_migrate.connect(_search_index, sender=self, dispatch_uid="chat-search-index")
