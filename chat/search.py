"""Full-text search over messages (CONTRACT.md §9): one interface, `message_search`, and two
backends chosen by the database vendor.

- SQLite: an FTS5 table (`chat_message_fts`, external content over chat_message) kept current
  by triggers on insert, update and delete, so every write path (services, admin, bulk loads)
  updates it. Ranked by bm25.
- PostgreSQL: a stored tsvector column over the body with a partial GIN index (live messages
  only), queried with to_tsquery, ranked with ts_rank, snippets by ts_headline.

The query is the words of `q` (letters and digits; everything else, quotes, `*`, NEAR,
parentheses, is a separator), all required, the last one as a prefix so that results come
while typing. Only rooms the caller may read now are searched (chat.policy.readable_rooms);
deleted messages never match. Snippets are escaped here and only <mark> tags are added.
"""

import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
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
    if rooms.query.is_empty():
        return []  # nothing readable (an inactive user): no SQL can say "in no room"
    if connection.vendor == "postgresql":
        ranked = _postgres(words, rooms, room, limit, offset)  # [(message id, raw snippet)]
    else:
        ranked = _sqlite(words, rooms, limit, offset)
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


# The last word of a query is a prefix (results while typing). FTS5 answers a prefix of a length
# it keeps an index for from that index, one list it can walk newest first; any other prefix it
# expands to every matching term and merges their lists in full first, and bm25 does it again to
# count them: 55 ms for a 9-letter word in most messages of a million, against 14 ms with its
# own index. Every length up to 12 costs about twice the index of 2 to 4 alone (360 against
# 160 MB at a million messages, +33 µs per message written) and covers what people type.
FTS_PREFIXES = " ".join(str(n) for n in range(1, 13))
FTS_DEFINITION = (
    "fts5(body, content='chat_message', content_rowid='id', "
    f"tokenize='porter unicode61 remove_diacritics 2', prefix='{FTS_PREFIXES}')"
)


def install_sqlite_index(conn) -> None:
    """Create the FTS5 table and its triggers if missing, remake the table if its definition
    changed, and rebuild the index if anything was (re)made.

    Idempotent; run by migrations 0006 and 0008 and after every `migrate` (chat.apps): a later
    migration that remakes chat_message on SQLite (to add a column with a default) drops its
    triggers. All or nothing: an interrupted remake must not leave a current-looking table with
    an empty index, which the next run would take as done."""
    if conn.vendor != "sqlite":
        return
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger') "
            "AND (name LIKE %s OR name = 'chat_message')",
            [FTS_TABLE + "%"],
        )
        present = dict(cursor.fetchall())
        if "chat_message" not in present:
            return  # migrated back before chat's first migration: nothing to index
        current = present.get(FTS_TABLE, "").endswith(FTS_DEFINITION)
        if current and present.keys() >= {FTS_TABLE, *_FTS_TRIGGERS}:
            return
        if not current:
            for trigger in _FTS_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        cursor.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING {FTS_DEFINITION}")
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
    # The newest CANDIDATES matches in readable rooms (FTS5 walks its rowids backwards), ranked
    # by bm25. Snippets are made in the same pass: an auxiliary function needs the MATCH, and a
    # second MATCH for the page's rows would expand a prefix over the whole index again (half a
    # second for a word in most messages of a million).
    ranked_sql = f"""
        SELECT id, snip FROM (
            SELECT m.id AS id, bm25({FTS_TABLE}) AS score,
                   snippet({FTS_TABLE}, 0, char(2), char(3), '…', 24) AS snip
            FROM {FTS_TABLE} JOIN chat_message m ON m.id = {FTS_TABLE}.rowid
            WHERE {FTS_TABLE} MATCH %s AND NOT m.deleted AND m.room_id IN ({room_sql})
            ORDER BY {FTS_TABLE}.rowid DESC LIMIT %s
        ) ORDER BY score, id DESC LIMIT %s OFFSET %s
    """  # noqa: S608 - every value is a parameter; names are constants
    with connection.cursor() as cursor:
        cursor.execute(ranked_sql, [fts_query(words), *room_params, CANDIDATES, limit, offset])
        return [(pk, snip or "") for pk, snip in cursor.fetchall()]


# --- PostgreSQL: tsvector, GIN -----------------------------------------------------------------

# A stored generated column, to_tsvector(CONFIG, body), with a partial GIN index (migration 0007;
# not a model field, as the FTS5 table is not one). Testing a row's stored vector costs about
# 0.3 µs, so walking the newest messages backwards finds the newest matches of a common word at
# once, where the GIN index would list every match (800,000 of a million) to be sorted; and the
# GIN index finds a rare word's few matches where the walk would read the whole table.
# The planner cannot be left to choose between them: it takes a word's matches as spread evenly
# over time, and walks the whole table backwards for a word that was common once and is no more
# (bench/search.py, "word of old messages only": 212 ms). So the walk is tried on the newest
# PROBE messages first, and goes on (up to WALK_MAX) only when what it found there says it will
# find enough; anything else asks the index.
PG_COLUMN = "search_vector"
PG_INDEX = "chat_message_search_vector"
PROBE = 2_000
WALK_MAX = 40_000
HEADLINE_OPTIONS = (
    f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords=30, MinWords=10, MaxFragments=2, "
    "FragmentDelimiter=…"
)
TSQUERY = f"to_tsquery('{CONFIG}', %s)"  # inlined: a constant to the planner


def pg_query(words: list[str]) -> str:
    """A tsquery of the quoted words (no tsquery operator can come from the user), the last
    one a prefix; for to_tsquery(CONFIG, ...)."""
    quoted = [f"'{w}'" for w in words]
    quoted[-1] += ":*"
    return " & ".join(quoted)


def _postgres(words: list[str], rooms, room: Room | None, limit: int, offset: int):
    query = pg_query(words)
    rooms_sql = rooms.values("pk").query.sql_with_params()
    # Across rooms the walk goes down the primary key; in one room, down its (room, seq) index,
    # so that a small room is walked alone rather than found among everyone's messages.
    key, scope, scope_params = (
        ("id", "", []) if room is None else ("seq", "room_id = %s AND ", [room.pk])
    )
    with connection.cursor() as cursor:
        newest_sql = f"SELECT max({key}) FROM chat_message WHERE {scope}TRUE"  # noqa: S608
        cursor.execute(newest_sql, scope_params)
        newest = cursor.fetchone()[0] or 0

        def walk(span: int) -> list[int]:
            """The newest CANDIDATES matches among the last `span` messages, walked backwards:
            ts_match_vq is the @@ operator as a function, which the GIN index cannot serve."""
            room_sql, room_params = rooms_sql
            cursor.execute(
                f"""SELECT id FROM chat_message
                    WHERE {scope}{key} > %s AND ts_match_vq({PG_COLUMN}, {TSQUERY})
                      AND NOT deleted AND room_id IN ({room_sql})
                    ORDER BY {key} DESC LIMIT %s""",  # noqa: S608 - values are parameters
                [*scope_params, newest - span, query, *room_params, CANDIDATES],
            )
            return [row[0] for row in cursor.fetchall()]

        ids = walk(PROBE)
        walked = PROBE
        if len(ids) < CANDIDATES and newest > walked:
            if ids and PROBE * CANDIDATES / len(ids) <= WALK_MAX:
                ids, walked = walk(WALK_MAX), WALK_MAX
            if len(ids) < CANDIDATES and newest > walked:
                ids = _pg_indexed(cursor, query, rooms_sql)
        return _pg_page(cursor, query, ids, limit, offset)


def _pg_indexed(cursor, query: str, rooms_sql) -> list[int]:
    """The newest CANDIDATES matches, from the GIN index. Sorted by `id + 0`, which no index
    yields, so that the planner cannot turn it into the walk."""
    room_sql, room_params = rooms_sql
    cursor.execute(
        f"""SELECT id FROM chat_message
            WHERE {PG_COLUMN} @@ {TSQUERY} AND NOT deleted AND room_id IN ({room_sql})
            ORDER BY id + 0 DESC LIMIT %s""",  # noqa: S608 - values are parameters
        [query, *room_params, CANDIDATES],
    )
    return [row[0] for row in cursor.fetchall()]


def _pg_page(cursor, query: str, ids: list[int], limit: int, offset: int):
    """The candidates ranked, and headlines (which parse the body again) for the page only."""
    if not ids:
        return []
    cursor.execute(
        f"""SELECT page.id, ts_headline('{CONFIG}', m.body, {TSQUERY}, %s)
            FROM (
                SELECT id, ts_rank({PG_COLUMN}, {TSQUERY}) AS rank FROM chat_message
                WHERE id = ANY(%s) ORDER BY rank DESC, id DESC LIMIT %s OFFSET %s
            ) AS page JOIN chat_message m ON m.id = page.id
            ORDER BY page.rank DESC, page.id DESC""",  # noqa: S608 - values are parameters
        [query, HEADLINE_OPTIONS, query, ids, limit, offset],
    )
    return cursor.fetchall()
