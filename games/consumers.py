"""The game socket (CONTRACT.md §10): a transport adapter over games.services and the engine.

It opens for whoever may read the game's room (chat.policy) and closes (4003) on a ban or kick
there, like the chat socket. Ticks reach it through the process hub, one layer event per tick
per process: the frame is encoded once by the runner and each socket only appends its own
`ack`. The socket sends each tick number once and in order, whichever runner sent it (a runner
that takes a game over announces its last checkpointed tick again).
"""

import asyncio
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


class GameConsumer(LiveConsumer):
    """One player's or spectator's view of one game."""

    kind = "game"
    frame_rate_setting = "SWITCHBOARD_GAME_FRAME_RATE"

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
        self.holding = True
        self.watching = False
        await self.join_group(game_group(self.game_id))
        await get_supervisor().watch(self.game_id, self.status, self)
        self.watching = True
        await self.send_state()

    async def closing(self) -> None:
        if self.watching:
            await get_supervisor().unwatch(self.game_id, self)

    async def send_state(self) -> None:
        """A full snapshot, rebuilt from the checkpoint, then the ticks that came meanwhile."""
        self.holding = True
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
        if game.status == "finished" and not self.result_sent:
            self.result_sent = True
            await self.send_frame(result_frame(game))
        while self.held:
            held, self.held = self.held, []
            for event in held:
                await self._deliver(event)
        self.holding = False

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
            if not self.holding:
                asyncio.get_running_loop().create_task(self.send_state())
            return
        if self.holding:
            self.held.append(event)
            return
        await self._deliver(event)

    async def _deliver(self, event: dict[str, Any]) -> None:
        if event["type"] == "game.tick":
            if event["tick"] <= self.last_tick:
                return  # announced again by a runner that took the game over
            if event["tick"] > self.last_tick + 1:
                # Ticks the layer dropped: sent from the checkpoint, in order, before this one.
                missed = await get_supervisor().missed_ticks(
                    self.game_id, self.setup, self.last_tick + 1, event["tick"] - 1
                )
                for tick in missed:
                    await self.send_text(tick_text(tick.head(), tick.acks.get(self.seat, 0)))
            self.last_tick = event["tick"]
            acks = event["acks"]
            ack = acks[self.seat] if self.seat is not None and self.seat < len(acks) else 0
            await self.send_text(tick_text(event["head"], ack))
        elif event["type"] == "hub.frame":
            if "game_status" in event:
                self.status = event["game_status"]
            seats = event.get("seats")
            if seats is not None and seats != self.setup["seats"] and self.status in BEFORE_TICKS:
                # A seat was taken: every cycle's start cell moved. The board this socket
                # showed is stale, and so is the setup it would replay missed ticks with.
                self.setup["seats"] = seats
                asyncio.get_running_loop().create_task(self.send_state())
            if event.get("game_result"):
                if self.result_sent:
                    return
                self.result_sent = True
            await self.send_text(event["text"])
