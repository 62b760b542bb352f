"""The game socket (CONTRACT.md §10): a transport adapter over games.services and the engine.

It opens for whoever may read the game's room (chat.policy) and closes (4003) on a ban or kick
there, like the chat socket. Ticks reach it through the process hub, one layer event per tick
per process: the frame is encoded once by the runner and each socket only appends its own
`ack`. The socket sends each tick number once and in order, whichever runner sent it (a runner
that takes a game over announces its last checkpointed tick again).
"""

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from games import selectors, services
from games.engine import Match, tick_text
from games.frames import game_data, result_frame
from games.hosting import get_supervisor
from games.serializers import TurnSerializer
from games.store import game_store
from realtime.consumers import LiveConsumer, validate
from realtime.errors import Forbidden, Invalid
from realtime.groups import game_group
from realtime.hub import RESYNC

TURNS_TAKEN = {"countdown", "running"}
BEFORE_TICKS = {"waiting", "countdown"}  # the seats may still be news to a socket
STATUS_ORDER = {"waiting": 0, "countdown": 1, "running": 2, "finished": 3}

logger = logging.getLogger(__name__)


def progress(status: str, seats: int) -> tuple[int, int]:
    """How far a game has got: its status, then how many are seated. Neither goes back."""
    return STATUS_ORDER.get(status, 0), seats


class GameConsumer(LiveConsumer):
    """One player's or spectator's view of one game."""

    kind = "game"
    frame_rate_setting = "SWITCHBOARD_GAME_FRAME_RATE"
    watching = False  # the supervisor shows it the game (from `opened` on)

    async def authorize(self) -> None:
        self.game_id = int(self.scope["url_route"]["kwargs"]["game_id"])
        game = await database_sync_to_async(selectors.game_to_read)(
            game_id=self.game_id, user=self.user
        )
        self.room_id = game.room_id
        self.status = game.status

    async def opened(self) -> None:
        self.seat: int | None = None
        self.last_tick = 0
        self.last_seq = 0
        self.result_sent = False
        self.held: list[dict[str, Any]] = []
        self.holding = True  # events wait in `held` until the state is sent
        self.stating = False  # a send_state is under way
        self.stale = False  # ... and must read the game again before it is done
        self.shown = (-1, 0)  # how far the game had got in what this socket was sent
        self.refreshes: set[asyncio.Task] = set()
        # The hub and the supervisor's lanes (one per process sending ticks) deliver to this
        # socket from tasks of their own: one delivery at a time, or a catch-up and a held
        # tick would both send the same tick.
        self.delivering = asyncio.Lock()
        self.watching = False
        await self.join_group(game_group(self.game_id))
        await get_supervisor().watch(self.game_id, self.status, self)
        self.watching = True
        await self.send_state()

    async def closing(self) -> None:
        if self.watching:
            await get_supervisor().unwatch(self.game_id, self)

    async def send_state(self) -> None:
        """A full snapshot, rebuilt from the checkpoint, then the ticks that came meanwhile.

        One at a time: asked again while one is under way, that one reads the game again
        before it lets the held events go (two at once would each release the other's held
        events, and a slow one would send an older board after newer ticks)."""
        if self.stating:
            self.stale = True
            return
        self.stating = self.holding = self.stale = True
        try:
            while self.stale or self.held:
                if self.stale:
                    self.stale = False
                    await self._send_snapshot()
                    continue
                held, self.held = self.held, []
                for event in held:
                    await self._deliver(event)
        finally:
            self.stating = self.holding = False

    def _state_soon(self) -> None:
        """send_state in a task of its own: not inside the hub's delivery to every socket."""
        task = asyncio.get_running_loop().create_task(self.send_state())
        self.refreshes.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task) -> None:
        self.refreshes.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and type(error).__name__ != "Disconnected":
            logger.warning("game %s: a fresh state failed", self.game_id, exc_info=error)

    async def _send_snapshot(self) -> None:
        game = await database_sync_to_async(selectors.game_get)(game_id=self.game_id)
        self.status = game.status
        players = list(game.players.all())
        self.seat = next((p.seat for p in players if p.user_id == self.user.pk), None)
        entries = await game_store().log_entries(self.game_id) if game.status != "waiting" else []
        self.setup = {"kind": game.kind, "width": game.width, "height": game.height,
                      "seats": max(len(players), 1), "seed": game.pk}  # fmt: skip
        match, _ = Match.replay(**self.setup, log=entries)
        alive = match.rules.alive() if game.status != "finished" else None
        await self.send_frame({
            "type": "state", "tick": match.tick, "game": game_data(game, alive=alive),
            "cells": match.rules.cells(), "you": self.seat,
            "ack": match.acks.get(self.seat, 0) if self.seat is not None else 0,
        })  # fmt: skip
        self.last_tick = max(self.last_tick, match.tick)
        self.shown = max(self.shown, progress(game.status, len(players)))
        if game.status == "finished" and not self.result_sent:
            self.result_sent = True
            await self.send_frame(result_frame(game))

    # --- client frames ---------------------------------------------------------------------

    async def on_join(self, frame: dict[str, Any]) -> None:
        game = await database_sync_to_async(selectors.game_get)(game_id=self.game_id)
        await database_sync_to_async(services.game_join)(game=game, user=self.user)
        await self.send_state()  # with `you` = the seat just taken

    async def on_start(self, frame: dict[str, Any]) -> None:
        game = await database_sync_to_async(selectors.game_get)(game_id=self.game_id)
        game = await database_sync_to_async(services.game_start)(game=game, user=self.user)
        get_supervisor().note_status(self.game_id, game.status)

    async def on_turn(self, frame: dict[str, Any]) -> None:
        data = validate(TurnSerializer, frame)
        if self.seat is None:
            raise Forbidden("Only a seated player can steer; join the game first.")
        if self.status not in TURNS_TAKEN:
            raise Forbidden("The game is not running.")
        if data["seq"] <= self.last_seq:
            raise Invalid("seq: each turn needs a seq above the last one.")
        self.last_seq = data["seq"]
        # The seat is this socket's own (read from the database): no frame names another.
        await game_store().push_input(self.game_id, [self.seat, data["seq"], data["dir"]])

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong"})

    handlers = {"join": on_join, "start": on_start, "turn": on_turn, "ping": on_ping}

    # --- game events -----------------------------------------------------------------------

    async def room_event(self, event: dict[str, Any]) -> None:
        if event["type"] == RESYNC:
            # Events may have been lost (Redis restarted): start again from a fresh state.
            self._state_soon()
            return
        if self.holding:
            self.held.append(event)
            return
        await self._deliver(event)

    async def _catch_up(self, last: int) -> None:
        """Send ticks `last_tick + 1` .. `last` from the checkpoint, in order. Ticks the log no
        longer has (or Redis unreachable) make this socket read a fresh `state` instead."""
        if last <= self.last_tick:
            return
        first = self.last_tick + 1
        try:
            missed = await get_supervisor().missed_ticks(self.game_id, self.setup, first, last)
        except Exception:
            logger.warning("game %s: ticks %s-%s not read", self.game_id, first, last,
                           exc_info=True)  # fmt: skip
            missed = []
        for tick in missed:
            await self.send_text(tick_text(tick.head(), tick.acks.get(self.seat, 0)))
        if [tick.number for tick in missed] != list(range(first, last + 1)):
            self._state_soon()
        self.last_tick = max(self.last_tick, last)

    async def _deliver(self, event: dict[str, Any]) -> None:
        async with self.delivering:
            await self._deliver_one(event)

    async def _deliver_one(self, event: dict[str, Any]) -> None:
        if event["type"] == "game.tick":
            if event["tick"] <= self.last_tick:
                return  # announced again by a runner that took the game over
            # Ticks the layer dropped: sent from the checkpoint, in order, before this one.
            await self._catch_up(event["tick"] - 1)
            self.last_tick = event["tick"]
            acks = event["acks"]
            ack = acks[self.seat] if self.seat is not None and self.seat < len(acks) else 0
            await self.send_text(tick_text(event["head"], ack))
        elif event["type"] == "hub.frame":
            if event.get("ticks"):
                # The game is over after `ticks` ticks: those this socket has not sent yet (held
                # for their beat, or dropped) go first, so that it never shows the result early.
                await self._catch_up(event["ticks"])
            if "game_status" in event:
                # (An event without `seats`, from a process of an older release, counts as
                # showing the seats this socket showed.)
                reached = progress(event["game_status"], event.get("seats", self.shown[1]))
                if reached < self.shown:
                    return  # older than the state this socket was sent (held while it read)
                self.shown = reached
                self.status = event["game_status"]
                if event.get("seats", 0) > self.setup["seats"] and self.status in BEFORE_TICKS:
                    # A seat was taken: every cycle's start cell moved. The board this socket
                    # showed is stale, and so is the setup it would replay missed ticks with.
                    self.setup["seats"] = event["seats"]
                    self._state_soon()
            if event.get("game_result"):
                if self.result_sent:
                    return
                self.result_sent = True
            await self.send_text(event["text"])
