"""Issue 8 across real processes: room notes edited through two Daphnes converge, survive the
restart of every process (Redis included), and obey the room's access rules."""

import asyncio
import time

import pytest
from websockets.exceptions import InvalidStatus

from realtime.closecodes import CloseCode
from tests.support.clients import Rest, close_code, connect_socket
from tests.support.yclient import NotesEditor, awareness_message

pytestmark = pytest.mark.integration


async def private_room(stack, count: int):
    """A private room of `count` users (the first is its owner): (slug, accounts)."""
    accounts = await stack.login(count)
    async with Rest(stack.one, accounts[0]) as rest:
        slug = (await rest.create_room(is_private=True))["slug"]
        for account in accounts[1:]:
            await rest.add_member(slug, account.username)
    return slug, accounts


async def notes_text(stack, account, slug: str) -> list[str]:
    """The notes as `GET /api/rooms/<slug>/notes/` reads them on each process."""
    texts = []
    for server in stack.servers:
        async with Rest(server, account) as rest:
            texts.append((await rest.notes(slug))["text"])
    return texts


async def test_concurrent_edits_on_two_processes_converge(sqlite_stack):
    stack = sqlite_stack
    slug, (alice, bob) = await private_room(stack, 2)
    async with (
        await NotesEditor.open(stack.one, alice, slug) as on_one,
        await NotesEditor.open(stack.two, bob, slug) as on_two,
    ):
        await on_one.edit(lambda t: t.insert(0, "agenda"))
        await on_two.until(lambda text: text == "agenda")
        # Both insert at the same position before either hears of the other's edit.
        await on_one.edit(lambda t: t.insert(6, " from alice"))
        await on_two.edit(lambda t: t.insert(6, " from bob"))

        def both(text: str) -> bool:
            return "from alice" in text and "from bob" in text

        await asyncio.gather(on_one.until(both), on_two.until(both))
        assert on_one.text == on_two.text
        assert on_one.text in {"agenda from alice from bob", "agenda from bob from alice"}
        # A late-comer on either process is sent the same document.
        async with await NotesEditor.open(stack.one, bob, slug) as late:
            await late.until(lambda text: text == on_one.text)
        final = on_one.text
    assert await notes_text(stack, alice, slug) == [final, final]


async def test_notes_survive_the_restart_of_every_process_and_redis(own_stack):
    stack = own_stack
    slug, (alice, bob) = await private_room(stack, 2)
    async with (
        await NotesEditor.open(stack.one, alice, slug) as on_one,
        await NotesEditor.open(stack.two, bob, slug) as on_two,
    ):
        await on_one.edit(lambda t: t.insert(0, "kept "))
        await on_two.until(lambda text: text == "kept ")
        await on_two.edit(lambda t: t.insert(5, "across restarts"))
        await on_one.until(lambda text: text == "kept across restarts")
        await on_two.flushed()

    stack.restart()

    assert await notes_text(stack, alice, slug) == ["kept across restarts"] * 2
    async with (
        await NotesEditor.open(stack.two, alice, slug) as again,
        await NotesEditor.open(stack.one, bob, slug) as other,
    ):
        await again.until(lambda text: text == "kept across restarts")
        # And editing goes on across the restarted processes.
        await again.edit(lambda t: t.insert(0, "still "))
        await other.until(lambda text: text == "still kept across restarts")


async def test_a_non_member_cannot_open_a_private_rooms_notes(sqlite_stack):
    stack = sqlite_stack
    slug, (owner,) = await private_room(stack, 1)
    [outsider] = await stack.login(1)
    for server in stack.servers:
        with pytest.raises(InvalidStatus) as refused:
            await (await connect_socket(server, f"/ws/rooms/{slug}/notes/", outsider)).close()
        assert refused.value.response.status_code == 403
        async with Rest(server, outsider) as rest:
            response = await rest.client.get(f"/api/rooms/{slug}/notes/")
            assert response.status_code == 404
    async with await NotesEditor.open(stack.two, owner, slug) as editor:
        await editor.flushed()


async def test_a_muted_members_edits_are_not_applied(sqlite_stack):
    stack = sqlite_stack
    slug, (owner, member) = await private_room(stack, 2)
    async with (
        Rest(stack.one, owner) as rest,
        await NotesEditor.open(stack.one, owner, slug) as owners,
        await NotesEditor.open(stack.two, member, slug) as members,
    ):
        await owners.edit(lambda t: t.insert(0, "minutes"))
        await members.until(lambda text: text == "minutes")
        await rest.moderate(slug, "mute", member.username, minutes=5)

        await members.edit(lambda t: t.insert(0, "MUTED "))
        await members.flushed()  # the server has handled the update
        await owners.edit(lambda t: t.insert(7, " approved"))
        # The muted member still reads the room's edits...
        await members.until(lambda text: "approved" in text)
        await owners.flushed()
        assert owners.text == "minutes approved"
        # ...but theirs reached neither the other editor, nor the store, nor the process
        # that served them (a newcomer there is sent its copy of the document).
        assert await notes_text(stack, owner, slug) == ["minutes approved"] * 2
        async with await NotesEditor.open(stack.two, owner, slug) as newcomer:
            await newcomer.flushed()
            assert newcomer.text == "minutes approved"


async def test_a_ban_closes_the_notes_socket_on_the_other_process_4003(sqlite_stack):
    stack = sqlite_stack
    slug, (owner, member) = await private_room(stack, 2)
    async with Rest(stack.one, owner) as rest:
        editor = await NotesEditor.open(stack.two, member, slug)
        await editor.flushed()
        closing = asyncio.create_task(close_code(editor.ws, within=10))
        await rest.moderate(slug, "ban", member.username)
        answered = time.monotonic()
        code = await closing
        took = time.monotonic() - answered
    assert code == 4003
    assert took < 1.0, f"the notes socket closed {took:.3f}s after the ban returned"
    with pytest.raises(InvalidStatus) as refused:
        await (await connect_socket(stack.one, f"/ws/rooms/{slug}/notes/", member)).close()
    assert refused.value.response.status_code == 403


async def test_notes_of_a_few_hundred_kib_load_and_the_size_limit_holds(sqlite_stack):
    """Issue 12, findings 16 and 13 through real Daphnes: notes far over the 64 KiB inbound frame
    limit load for a newcomer on either process (the document goes out as one frame, which
    Daphne now allows up to SWITCHBOARD_MAX_OUTGOING_FRAME_BYTES), and an update that would take
    them over SWITCHBOARD_MAX_NOTE_BYTES (512 KiB) closes its socket with 4010, stored nowhere."""
    stack = sqlite_stack
    slug, (alice, bob) = await private_room(stack, 2)
    chunk = 40_000  # characters per edit: each update stays under the 64 KiB inbound limit
    async with await NotesEditor.open(stack.one, alice, slug) as writer:
        for i in range(12):
            await writer.edit(lambda t, i=i: t.insert(len(t), f"{i % 10}" * chunk))
            await writer.flushed()
        full = writer.text
        assert len(full) == 12 * chunk
        for server in stack.servers:
            async with await NotesEditor.open(server, bob, slug) as newcomer:
                await newcomer.until(lambda text: len(text) == len(full), within=20)
                assert newcomer.text == full
        assert await notes_text(stack, alice, slug) == [full, full]

        async with await NotesEditor.open(stack.two, bob, slug) as over:
            await over.until(lambda text: text == full, within=20)
            await over.edit(lambda t: t.insert(0, "x" * 60_000))
            assert await close_code(over.ws, within=10) == CloseCode.UPDATE_REFUSED
        await writer.flushed()
        assert writer.text == full  # never relayed
        assert await notes_text(stack, alice, slug) == [full, full]  # never stored
        # Deleting is always taken, and then writing goes on.
        await writer.edit(lambda t: t.__delitem__(slice(0, 5 * chunk)))
        await writer.edit(lambda t: t.insert(0, "y" * 30_000))
        await writer.flushed()
        expected = "y" * 30_000 + full[5 * chunk :]
        assert writer.text == expected
        assert await notes_text(stack, alice, slug) == [expected, expected]


async def test_an_awareness_entry_owned_on_one_process_cannot_be_forged_on_the_other(
    sqlite_stack,
):
    """Issue 12, finding 13: the socket that announced a client id owns it on every process."""
    stack = sqlite_stack
    slug, (alice, bob) = await private_room(stack, 2)

    def told(editor: NotesEditor) -> bytes:
        return b"".join(editor.y.awareness)

    async with (
        await NotesEditor.open(stack.one, alice, slug) as on_one,
        await NotesEditor.open(stack.two, bob, slug) as on_two,
    ):
        await on_two.flushed()  # subscribed: it hears what alice says next
        await on_one.y.send_raw(awareness_message((4242, 1, '{"user":{"name":"alice"}}')))
        async with asyncio.timeout(10):
            await on_two.y.until(lambda: b'"alice"' in told(on_two))
        await on_two.y.send_raw(
            awareness_message(
                (4242, 9, '{"user":{"name":"FORGED"}}'), (77, 1, '{"user":{"name":"bob"}}')
            )
        )
        async with asyncio.timeout(10):
            await on_one.y.until(lambda: b'"bob"' in told(on_one))
        await on_two.flushed()
        await on_one.flushed()
        assert b"FORGED" not in told(on_one)
        for server in stack.servers:
            async with await NotesEditor.open(server, alice, slug) as newcomer:
                async with asyncio.timeout(10):
                    await newcomer.y.until(
                        lambda n=newcomer: b'"alice"' in told(n) and b'"bob"' in told(n)
                    )
                await newcomer.flushed()
                assert b"FORGED" not in told(newcomer)
