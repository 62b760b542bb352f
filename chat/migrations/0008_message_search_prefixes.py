"""SQLite: the full-text table keeps a prefix index for every length from 1 to 12, not just 2 to 4
(chat.search.FTS_PREFIXES says why). The table is remade and its index rebuilt, inside this
migration's transaction; on a large history that takes a while (about 25 s a million messages)
and holds the database's write lock. Other vendors: nothing."""

from django.db import migrations


def remake(apps, schema_editor):
    from chat import search

    search.install_sqlite_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_message_search_vector")]

    operations = [migrations.RunPython(remake, migrations.RunPython.noop)]
