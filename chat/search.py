"""Full-text search over messages (CONTRACT.md §9): one interface, `message_search`, and two
backends chosen by the database vendor.

- SQLite: an FTS5 table (`chat_message_fts`, external content over chat_message) kept current
  by triggers on insert, update and delete, so every write path (services, admin, bulk loads)
  updates it. Ranked by bm25.
- PostgreSQL: `to_tsvector` over the body with a partial GIN index (live messages only),
  queried with SearchQuery, ranked with SearchRank, snippets by SearchHeadline.

The query is the words of `q` (letters and digits; everything else, quotes, `*`, NEAR,
parentheses, is a separator), all required, the last one as a prefix so that results come
while typing. Only rooms the caller may read now are searched (chat.policy.readable_rooms);
deleted messages never match. Snippets are escaped here and only <mark> tags are added.
"""

import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils.html import escape

from chat import policy
from chat.models import Message, Room

CONFIG = "english"  # PostgreSQL's text search configuration; FTS5 uses the porter stemmer too
MAX_TERMS = 8
# Ranking reads every candidate, so a word found in half a million messages would take seconds:
# hits are ranked among the newest CANDIDATES matches (for such a word recency is what a reader
# wants anyway). bench/search.py measures the effect: ranking costs about linearly in it.
CANDIDATES = 200
# Markers the backends put around matches: control characters, which escaping leaves alone and
# which are then replaced by <mark> tags (a stray one in a body is dropped, never a tag).
OPEN, CLOSE = "\x02", "\x03"
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Hit:
    message: Message
    room: Room
    highlight: str


def terms(q: str) -> list[str]:
    """The words of a query, lower-cased; operators and quotes are just separators."""
    return [w.lower() for w in WORD.findall(q)][:MAX_TERMS]


def message_search(
    *, user: AbstractBaseUser, q: str, room: Room | None = None, limit: int = 20, offset: int = 0
) -> list[Hit]:
    """Messages matching every word of `q`, best first, from rooms `user` may read now."""
    words = terms(q)
    if not words:
        return []
    rooms = policy.readable_rooms(user=user)
    if room is not None:
        rooms = rooms.filter(pk=room.pk)
    backend = _postgres if connection.vendor == "postgresql" else _sqlite
    ranked = backend(words, rooms, limit, offset)  # [(message id, raw snippet)]
    messages = (
        Message.objects.filter(pk__in=[pk for pk, _ in ranked])
        .select_related("author", "room")
        .prefetch_related("attachments")
        .in_bulk()
    )
    return [
        Hit(messages[pk], messages[pk].room, safe_highlight(raw))
        for pk, raw in ranked
        if pk in messages
    ]


def safe_highlight(raw: str) -> str:
    """Escape a snippet and turn the backends' markers into balanced <mark> tags."""
    out, open_ = [], False
    for part in re.split(f"([{OPEN}{CLOSE}])", raw):
        if part == OPEN and not open_:
            out.append("<mark>")
            open_ = True
        elif part == CLOSE and open_:
            out.append("</mark>")
            open_ = False
        elif part not in (OPEN, CLOSE):
            out.append(escape(part))
    if open_:
        out.append("</mark>")
    return "".join(out)


# --- SQLite: FTS5 ------------------------------------------------------------------------------

FTS_TABLE = "chat_message_fts"
_FTS_TRIGGERS = {
    "chat_message_fts_insert": f"""
        CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message BEGIN
            INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
        END""",
    "chat_message_fts_delete": f"""
        CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
        END""",
    "chat_message_fts_update": f"""
        CREATE TRIGGER IF NOT EXISTS chat_message_fts_update AFTER UPDATE OF body ON chat_message
        BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);
            INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
        END""",
}


def install_sqlite_index(conn) -> None:
    """Create the FTS5 table and its triggers if missing, and rebuild the index if any was.

    Idempotent; run by the migration and after every `migrate` (chat.apps): a later migration
    that remakes chat_message on SQLite (to add a column with a default) drops its triggers."""
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE %s",
            [FTS_TABLE + "%"],
        )
        present = {row[0] for row in cursor.fetchall()}
        if present >= {FTS_TABLE, *_FTS_TRIGGERS}:
            return
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(body, "
            "content='chat_message', content_rowid='id', "
            # Prefix indexes: the last word of a query is a prefix (results while typing),
            # which without them expands to every matching term at query time.
            "tokenize='porter unicode61 remove_diacritics 2', prefix='2 3 4')"
        )
        for sql in _FTS_TRIGGERS.values():
            cursor.execute(sql)
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def fts_query(words: list[str]) -> str:
    """An FTS5 query in which every word is a quoted string: no operator can reach FTS5."""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _sqlite(words: list[str], rooms, limit: int, offset: int) -> list[tuple[int, str]]:
    room_sql, room_params = rooms.values("pk").query.sql_with_params()
    match = fts_query(words)
    # The newest CANDIDATES matches in readable rooms (FTS5 walks its rowids backwards), ranked
    # by bm25; snippets only for the page.
    ranked_sql = f"""
        SELECT id FROM (
            SELECT m.id AS id, bm25({FTS_TABLE}) AS score
            FROM {FTS_TABLE} JOIN chat_message m ON m.id = {FTS_TABLE}.rowid
            WHERE {FTS_TABLE} MATCH %s AND NOT m.deleted AND m.room_id IN ({room_sql})
            ORDER BY {FTS_TABLE}.rowid DESC LIMIT %s
        ) ORDER BY score, id DESC LIMIT %s OFFSET %s
    """  # noqa: S608 - every value is a parameter; names are constants
    with connection.cursor() as cursor:
        cursor.execute(ranked_sql, [match, *room_params, CANDIDATES, limit, offset])
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            f"SELECT rowid, snippet({FTS_TABLE}, 0, char(2), char(3), '…', 24) FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH %s AND rowid IN ({marks})",  # noqa: S608
            [match, *ids],
        )
        snippets = dict(cursor.fetchall())
    return [(pk, snippets.get(pk) or "") for pk in ids]


# --- PostgreSQL: tsvector, GIN -----------------------------------------------------------------

PG_INDEX = "chat_message_body_search"


def pg_vector():
    """The indexed expression: the query must use exactly this for the GIN index to serve it."""
    from django.contrib.postgres.search import SearchVector

    return SearchVector("body", config=CONFIG)


def pg_index():
    from django.contrib.postgres.indexes import GinIndex
    from django.db.models import Q

    return GinIndex(pg_vector(), name=PG_INDEX, condition=Q(deleted=False))


def pg_query(words: list[str]):
    """A tsquery of the quoted words (no tsquery operator can come from the user), the last
    one a prefix."""
    from django.contrib.postgres.search import SearchQuery

    quoted = [f"'{w}'" for w in words]
    quoted[-1] += ":*"
    return SearchQuery(" & ".join(quoted), config=CONFIG, search_type="raw")


def _postgres(words: list[str], rooms, limit: int, offset: int) -> list[tuple[int, str]]:
    from django.contrib.postgres.search import SearchHeadline, SearchRank
    from django.db.models import F

    query = pg_query(words)
    # The newest CANDIDATES matches in readable rooms (the GIN index finds them), then ranked.
    # Ordered by `id + 0`, not `id`: walking the primary key backwards and testing each row
    # (the planner's pick when it overestimates the matches) reads the whole table for a rare
    # word; this way the GIN index finds the matches and only they are sorted.
    candidates = (
        Message.objects.annotate(search=pg_vector(), newest=F("id") + 0)
        .filter(search=query, deleted=False, room__in=rooms.values("pk"))
        .order_by("-newest")
        .values("pk")[:CANDIDATES]
    )
    found = (
        Message.objects.filter(pk__in=candidates)
        .annotate(rank=SearchRank(pg_vector(), query))
        .order_by("-rank", "-id")[offset : offset + limit]
    )
    # Headlines only for the page of hits (ts_headline reparses the body).
    ids = list(found.values_list("pk", flat=True))
    headlines = dict(
        Message.objects.filter(pk__in=ids)
        .annotate(
            headline=SearchHeadline(
                "body",
                query,
                config=CONFIG,
                start_sel=OPEN,
                stop_sel=CLOSE,
                max_words=30,
                min_words=10,
                fragment_delimiter="…",
                max_fragments=2,
            )  # fmt: skip
        )
        .values_list("pk", "headline")
    )
    return [(pk, headlines.get(pk, "")) for pk in ids]
