"""Full-text search over message bodies (chat.search): the index of the database in use.

SQLite: an FTS5 table kept current by triggers. PostgreSQL: a GIN index over the body's
tsvector, for live messages only. Other vendors: nothing (search is not offered).
"""

from django.db import migrations

PG_INDEX = "chat_message_body_search"  # replaced by 0007's stored column and its index


def pg_body_index():
    """The index as this migration made it (chat.search has since moved on: 0007)."""
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector
    from django.db.models import Q

    return GinIndex(
        SearchVector("body", config="english"), name=PG_INDEX, condition=Q(deleted=False)
    )


def create_index(apps, schema_editor):
    from chat import search

    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        search.install_sqlite_index(schema_editor.connection)
    elif vendor == "postgresql":
        schema_editor.add_index(apps.get_model("chat", "Message"), pg_body_index())


def drop_index(apps, schema_editor):
    from chat import search

    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for trigger in search._FTS_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {search.FTS_TABLE}")
    elif vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("chat", "Message"), pg_body_index())


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_attachments")]

    operations = [migrations.RunPython(create_index, drop_index)]
