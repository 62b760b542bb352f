"""Full-text search (CONTRACT.md §9): ranked, highlighted, HTML-safe, only over the rooms the
caller may read now, current on edit and delete, and never a 500 on hostile syntax.

The module runs on the test database (SQLite's FTS5 by default), and
`test_the_search_tests_pass_on_postgresql` runs it again on a real PostgreSQL (tsvector, GIN).
"""

import re
import subprocess
import sys

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from chat import policy, search, services
from chat.models import Room
from realtime.errors import DomainError
from tests.factories import UserFactory, make_room
from tests.support import procs

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(user, other):
    room = make_room(creator=user, name="Team", slug="team", is_private=True)
    services.member_add(room=room, actor=user, user=other)
    return room


def say(room, author, body):
    return services.message_create(room=room, author=author, body=body)[0]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def hits(client, q, **params):
    response = client.get("/api/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def bodies(client, q, **params):
    return [hit["message"]["body"] for hit in hits(client, q, **params)]


def test_hits_are_ranked_and_shaped(room, user):
    say(room, user, "lunch plans are vague")
    say(room, user, "deploy the deploy script before the deploy window")
    say(room, user, "nothing relevant here")
    say(room, user, "we should deploy")
    found = hits(client_for(user), "deploy")
    assert [h["message"]["body"] for h in found] == [
        "deploy the deploy script before the deploy window",  # three times: best
        "we should deploy",
    ]
    hit = found[0]
    assert set(hit) == {"message", "room", "highlight"}
    assert hit["room"] == {"slug": "team", "name": "Team"}
    assert hit["message"]["seq"] == 2 and hit["message"]["author"]["username"] == "alice"
    assert "<mark>deploy</mark>" in hit["highlight"]


def test_all_words_must_match_and_the_last_is_a_prefix(room, user):
    say(room, user, "the database migration failed")
    say(room, user, "the database is fine")
    assert bodies(client_for(user), "database migr") == ["the database migration failed"]
    # Stemming: "migrations" finds "migration".
    assert bodies(client_for(user), "migrations database") == ["the database migration failed"]


def test_the_highlight_is_html_safe(room, user):
    say(room, user, '<script>alert("x")</script> & <b>bold</b> alert \x02 stray \x03 marker')
    [hit] = hits(client_for(user), "alert")
    highlight = hit["highlight"]
    assert "<script>" not in highlight and "<b>" not in highlight
    # Only <mark> tags, balanced, whatever the body held.
    stripped = highlight.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in stripped and ">" not in stripped
    assert highlight.count("<mark>") == highlight.count("</mark>") >= 1
    # The message itself is returned as typed; pages show it as text.
    assert hit["message"]["body"].startswith("<script>")


def test_safe_highlight_escapes_and_balances_stray_markers():
    assert search.safe_highlight('<script>\x02a\x03&"') == "&lt;script&gt;<mark>a</mark>&amp;&quot;"
    assert search.safe_highlight("a\x02b<i>\x02c\x03\x03d\x02e") == (
        "a<mark>b&lt;i&gt;c</mark>d<mark>e</mark>"
    )


def test_only_rooms_the_caller_may_read_now(room, user, other):
    secret = make_room(creator=user, name="Secret", slug="secret", is_private=True)
    public = make_room(creator=user, name="Open", slug="open")
    say(room, user, "kiwi in team")
    say(secret, user, "kiwi in secret")
    say(public, user, "kiwi in open")
    theirs = client_for(other)
    assert sorted(bodies(theirs, "kiwi")) == ["kiwi in open", "kiwi in team"]
    outsider = client_for(UserFactory(username="mallory"))
    assert bodies(outsider, "kiwi") == ["kiwi in open"]
    # A ban takes effect at once, in a public room too.
    services.member_ban(room=public, actor=user, target=other)
    assert bodies(theirs, "kiwi") == ["kiwi in team"]
    # So does a kick from a private room.
    services.member_kick(room=room, actor=user, target=other)
    assert bodies(theirs, "kiwi") == []
    assert sorted(bodies(client_for(user), "kiwi")) == [
        "kiwi in open", "kiwi in secret", "kiwi in team",
    ]  # fmt: skip


def test_readable_rooms_agrees_with_require_read(room, user, other):
    """The one query search uses says what chat.policy.require_read says, room by room."""
    public = make_room(creator=user, name="Open", slug="open")
    banned_public = make_room(creator=user, name="Banned", slug="banned")
    services.member_ban(room=banned_public, actor=user, target=other)
    make_room(creator=user, name="Secret", slug="secret", is_private=True)
    archived = make_room(creator=user, name="Old", slug="old")
    services.room_update(room=archived, actor=user, is_archived=True)
    services.room_join(room=public, user=other)
    for person in (user, other, UserFactory(username="mallory")):
        readable = set(policy.readable_rooms(user=person).values_list("slug", flat=True))
        for each in Room.objects.all():
            try:
                policy.room_to_read(slug=each.slug, user=person)
                reads = True
            except DomainError:
                reads = False
            assert (each.slug in readable) == reads, (person.username, each.slug)


def test_edits_and_deletes_keep_the_index_current(room, user):
    message = say(room, user, "the old wording")
    client = client_for(user)
    assert bodies(client, "wording") == ["the old wording"]
    services.message_edit(room=room, actor=user, message_id=message.pk, body="fresh phrasing")
    assert bodies(client, "wording") == []
    assert bodies(client, "phrasing") == ["fresh phrasing"]
    services.message_delete(room=room, actor=user, message_id=message.pk)
    assert bodies(client, "phrasing") == []


def test_sqlite_remakes_an_index_of_an_older_definition(room, user):
    """A database made before the prefix indexes changed gets the new table, with every
    message in it, at its next migrate (chat.apps runs install_sqlite_index)."""
    say(room, user, "kept across the upgrade")
    with connection.cursor() as cursor:
        for trigger in search._FTS_TRIGGERS:
            cursor.execute(f"DROP TRIGGER {trigger}")
        cursor.execute(f"DROP TABLE {search.FTS_TABLE}")
        cursor.execute(
            f"CREATE VIRTUAL TABLE {search.FTS_TABLE} USING fts5(body, content='chat_message', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2', "
            "prefix='2 3 4')"
        )  # the definition of migration 0006, and an empty index
        search.install_sqlite_index(connection)
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [search.FTS_TABLE])
        assert cursor.fetchone()[0].endswith(search.FTS_DEFINITION)
    assert bodies(client_for(user), "upgra") == ["kept across the upgrade"]
    say(room, user, "and the triggers are back")
    assert bodies(client_for(user), "triggers") == ["and the triggers are back"]


@pytest.mark.django_db(transaction=True)
def test_messages_from_before_the_search_migrations_are_found_after_them(room, user):
    """Migrations 0007 (PostgreSQL's stored vector) and 0008 (SQLite's prefixes) over a history
    that already holds messages, and back: what was written before is found after."""
    from django.core.management import call_command

    try:
        call_command("migrate", "chat", "0006", verbosity=0)  # 0007 and 0008 undone
        say(room, user, "written before the upgrade")
        call_command("migrate", "chat", verbosity=0)
        assert bodies(client_for(user), "upgrade") == ["written before the upgrade"]
        say(room, user, "and a zucchini since")
        assert bodies(client_for(user), "zucchini") == ["and a zucchini since"]
    finally:
        call_command("migrate", "chat", verbosity=0)


def test_a_user_who_may_read_nothing_finds_nothing(room, user):
    say(room, user, "visible to members")
    user.is_active = False
    assert search.message_search(user=user, q="visible") == []


def test_room_narrows_and_an_unreadable_room_is_404(room, user, other):
    public = make_room(creator=user, name="Open", slug="open")
    say(room, user, "mango here")
    say(public, user, "mango there")
    client = client_for(other)
    assert bodies(client, "mango", room="team") == ["mango here"]
    assert client.get("/api/search/", {"q": "mango", "room": "nope"}).status_code == 404
    secret = make_room(creator=user, name="Secret", slug="secret", is_private=True)
    say(secret, user, "mango secret")
    assert client.get("/api/search/", {"q": "mango", "room": "secret"}).status_code == 404
    services.member_ban(room=public, actor=user, target=other)
    assert client.get("/api/search/", {"q": "mango", "room": "open"}).status_code == 404


@pytest.mark.parametrize(
    "q",
    ['"', '"unbalanced', "deploy*", "*", "NEAR(deploy script)", "(deploy", "deploy)",
     "deploy OR", "AND", "NOT deploy", "-deploy", "body:deploy", "deploy:*", "'", "a & | !",
     "^deploy", "\\", "deploy\x00", "💥", "  "],
)  # fmt: skip
def test_hostile_query_syntax_never_fails(room, user, q):
    say(room, user, "deploy script ready")
    response = client_for(user).get("/api/search/", {"q": q})
    assert response.status_code in (200, 400), response.content
    # Operators are plain words (all required): a query of the message's words finds it.
    words = set(search.terms(q))
    if response.status_code == 200 and words and words <= {"deploy", "script"}:
        assert [h["message"]["body"] for h in response.json()] == ["deploy script ready"]


NEEDLES = {  # where the matches lie among 30 messages, newest last
    "recent": set(range(25, 30)),  # the first walk (PROBE) finds enough
    "spread": set(range(0, 30, 3)),  # it finds some: a longer walk (WALK_MAX) finds enough
    "old": set(range(5)),  # it finds none: the GIN index
}


@pytest.mark.parametrize("narrowed", [False, True], ids=["all rooms", "one room"])
@pytest.mark.parametrize("layout", list(NEEDLES))
def test_the_newest_matches_are_found_wherever_they_lie_in_time(
    room, user, monkeypatch, layout, narrowed
):
    """PostgreSQL's search chooses between walking the newest messages and the GIN index by
    what a first short walk finds (chat.search, PROBE); every way ends at the same answer: the
    newest matches, best first. Scaled down here so that 30 messages take each way."""
    monkeypatch.setattr(search, "CANDIDATES", 3)
    monkeypatch.setattr(search, "PROBE", 4)
    monkeypatch.setattr(search, "WALK_MAX", 12)
    indexed = []
    if connection.vendor == "postgresql":
        real = search._pg_indexed
        monkeypatch.setattr(search, "_pg_indexed", lambda *args: indexed.append(1) or real(*args))
    other_room = make_room(creator=user, name="Elsewhere", slug="elsewhere")
    for i in range(30):
        say(room, user, f"needle {i:02}" if i in NEEDLES[layout] else f"straw {i:02}")
        if narrowed:  # matches in another room, between this one's, count for nothing
            say(other_room, user, f"needle elsewhere {i:02}")
    found = bodies(client_for(user), "needle", **({"room": "team"} if narrowed else {}))
    assert found == [f"needle {i:02}" for i in sorted(NEEDLES[layout])[::-1][:3]]
    if connection.vendor == "postgresql":
        assert bool(indexed) == (layout == "old")


def test_ranking_is_among_the_newest_candidates(room, user, monkeypatch):
    """A word found everywhere is ranked among its newest matches only (bounded cost)."""
    monkeypatch.setattr(search, "CANDIDATES", 3)
    say(room, user, "plum plum plum, the best match but the oldest")
    for i in range(4):
        say(room, user, f"plum number {i}")
    found = bodies(client_for(user), "plum")
    assert sorted(found) == ["plum number 1", "plum number 2", "plum number 3"]


def test_pagination_and_limits(room, user):
    for i in range(7):
        say(room, user, f"pear number {i}")
    client = client_for(user)
    first = bodies(client, "pear", limit=5)
    rest = bodies(client, "pear", limit=5, offset=5)
    assert len(first) == 5 and len(rest) == 2 and not set(first) & set(rest)
    assert client.get("/api/search/", {"q": "pear", "limit": 51}).status_code == 400
    assert client.get("/api/search/").status_code == 400  # q is required


def test_search_is_rate_limited_per_user(room, user, settings):
    settings.SWITCHBOARD_SEARCH_RATE = "2/minute"
    client = client_for(user)
    assert client.get("/api/search/", {"q": "a"}).status_code == 200
    assert client.get("/api/search/", {"q": "b"}).status_code == 200
    refused = client.get("/api/search/", {"q": "c"})
    assert refused.status_code == 429 and refused["Retry-After"]


def test_device_keys_cannot_search(room, user):
    from dashboard.services import device_create

    _, key = device_create(owner=user, name="sensor")
    client = APIClient()
    response = client.get("/api/search/", {"q": "x"}, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 403


def test_the_backend_follows_the_database_vendor():
    """This process searches with the backend of its database (FTS5 or tsvector)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE 'chat_message_fts%'")
            names = {row[0] for row in cursor.fetchall()}
        assert {search.FTS_TABLE, *search._FTS_TRIGGERS} <= names
    else:
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                           [search.PG_INDEX])  # fmt: skip
            (definition,) = cursor.fetchone()
        assert "gin" in definition.lower() and f"({search.PG_COLUMN})" in definition


@pytest.mark.integration
@pytest.mark.slow
def test_the_search_tests_pass_on_postgresql():
    """This module again, in a pytest of its own on a real PostgreSQL."""
    with procs.PostgresServer() as server:
        env = procs.app_env(database_url=server.url())
        done = subprocess.run(
            [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:randomly", "-p",
             "no:xdist", "-m", "not integration", "-p", "no:cacheprovider",
             # The pure functions need no second database.
             "-k", "not safe_highlight_escapes and not any_snippet and not sqlite_remakes"],
            cwd=procs.ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


@given(st.text(alphabet=st.sampled_from("ab<>&\"' \x02\x03/mark"), max_size=60))
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_snippet_becomes_text_and_balanced_marks_only(raw):
    highlight = search.safe_highlight(raw)
    stripped = highlight.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in stripped and ">" not in stripped and '"' not in stripped
    depth = 0
    for tag in re.findall(r"</?mark>", highlight):
        depth += 1 if tag == "<mark>" else -1
        assert depth in (0, 1)
    assert depth == 0


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_search_benchmark_runs_and_finds_every_kind_of_query(backend):
    """bench/search.py at a small scale: it loads through today's schema (a bulk insert that a
    new column broke once) and every kind of query finds messages."""
    from bench import search as bench_search

    result = bench_search.run_backend(backend, count=20_000, runs=3)
    assert result["database"] == backend and result["messages"] == 20_000
    for kind, figures in result["queries"].items():
        assert figures["p99_ms"] >= figures["p50_ms"] > 0, kind
        if not kind.startswith("baseline"):
            assert figures["hits_first_query"] > 0, kind
