"""PostgreSQL search reads a stored tsvector column instead of an expression index.

With the column, ANALYZE keeps statistics of its lexemes, so the planner knows a common word
from a rare one: it walks the newest messages backwards for a common word (and stops after a
few hundred) and asks the GIN index for a rare one. With only the expression index it guessed
2% for every word and sorted every match of a common word (bench/search.py: 190 ms for a word
in most messages of a million). Ranking reads the stored vector instead of parsing each body.

Adding a stored generated column rewrites the table once. Other vendors: nothing.
"""

from django.db import migrations

COLUMN = "search_vector"
INDEX = "chat_message_search_vector"
OLD_INDEX = "chat_message_body_search"

FORWARD = [
    f"ALTER TABLE chat_message ADD COLUMN {COLUMN} tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english'::regconfig, COALESCE(body, ''))) STORED",
    f"DROP INDEX IF EXISTS {OLD_INDEX}",
    f"CREATE INDEX {INDEX} ON chat_message USING gin ({COLUMN}) WHERE NOT deleted",
    "ANALYZE chat_message",
]
BACKWARD = [
    f"DROP INDEX IF EXISTS {INDEX}",
    f"ALTER TABLE chat_message DROP COLUMN IF EXISTS {COLUMN}",
    f"CREATE INDEX {OLD_INDEX} ON chat_message USING gin "
    "(to_tsvector('english'::regconfig, COALESCE(body, ''))) WHERE NOT deleted",
]


def run(schema_editor, statements):
    if schema_editor.connection.vendor == "postgresql":
        for sql in statements:
            schema_editor.execute(sql)


def forwards(apps, schema_editor):
    run(schema_editor, FORWARD)


def backwards(apps, schema_editor):
    run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_message_search")]

    operations = [migrations.RunPython(forwards, backwards)]
