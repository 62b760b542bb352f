"""Server-rendered pages (home, room) and the room's streams for non-WebSocket clients."""

import asyncio
import json

from asgiref.sync import sync_to_async
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chat import policy, selectors
from chat.apis import MessageListCreateApi
from chat.serializers import LongPollQuerySerializer, MessageSerializer, RoomSerializer
from dashboard import selectors as dashboard_selectors
from realtime.errors import DomainError, Forbidden, NotFound
from realtime.groups import room_group, user_group
from realtime.hub import RESYNC, get_hub
from realtime.sse import (
    KEEPALIVE_SECONDS,
    QueueSubscriber,
    StreamCredential,
    StreamSlot,
    last_event_id,
    sse,
    sse_response,
    stream_credential,
    stream_ends,
)


def home(request: HttpRequest) -> HttpResponse:
    rooms = RoomSerializer(selectors.room_list_for_user(user=request.user), many=True).data
    previews = selectors.last_messages(slugs=[room["slug"] for room in rooms])
    for room in rooms:
        room["last_message"] = previews.get(room["slug"])
    dms = [room for room in rooms if room["kind"] == "dm"]  # listed apart (CONTRACT.md §9)
    joined = [room for room in rooms if room["is_member"] and room["kind"] != "dm"]
    public = [room for room in rooms if not room["is_member"]]
    dashboards = dashboard_selectors.dashboard_list_for_user(user=request.user)
    return render(
        request,
        "chat/home.html",
        {"joined": joined, "public": public, "dms": dms, "dashboards": dashboards},
    )


def room_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        room = policy.room_to_see(slug=slug, user=request.user)
    except NotFound:
        raise Http404("No such room.") from None
    try:
        policy.room_to_read(slug=slug, user=request.user)
    except Forbidden:
        return render(request, "chat/banned.html", {"room": room}, status=403)
    rooms = list(
        selectors.room_list_for_user(user=request.user).filter(memberships__user=request.user)
    )
    for other in rooms:  # a direct conversation is named by the other people in it
        other.name = RoomSerializer(other).data["name"]
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            # The page also needs to know an archived room is read-only.
            "room_data": {**RoomSerializer(room).data, "is_archived": room.is_archived},
            "sidebar_rooms": rooms,
        },
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


# --- Streams for clients that cannot use WebSockets (CONTRACT.md §3) -----------------------------

STREAMED_TYPES = {"message", "message.updated", "message.deleted", "reactions"}


def _refusal(error: DomainError) -> JsonResponse:
    """What a stream or long poll answers when the policy refuses it (as DRF's views do)."""
    return JsonResponse({"code": error.code, "detail": error.detail}, status=error.status)


async def _room_for(request: HttpRequest, slug: str):
    """(room, credential, None) for a caller who may read the room, else (None, None, refusal)."""
    credential = await stream_credential(request)
    if isinstance(credential, JsonResponse):
        return None, None, credential
    try:
        room = await sync_to_async(policy.room_to_read)(slug=slug, user=credential.user)
    except DomainError as error:
        return None, None, _refusal(error)
    return room, credential, None


async def _refusal_after(event: dict, slug: str, credential: StreamCredential) -> JsonResponse:
    """What a request gets after an event that ended its stream: the room's refusal (a ban,
    a kick), else 401 (the session or the account ended)."""
    if event.get("room") is not None:
        try:
            await sync_to_async(policy.room_to_read)(slug=slug, user=credential.user)
        except DomainError as error:
            return _refusal(error)
        return JsonResponse([], safe=False)
    return JsonResponse({"detail": "Your session ended; sign in again."}, status=401)


def _messages_after(room, after_seq: int, limit: int) -> list[dict]:
    return MessageSerializer(
        selectors.message_list(room=room, after_seq=after_seq, limit=limit), many=True
    ).data


def _readable_messages_after(slug: str, user, after_seq: int, limit: int) -> list[dict]:
    """`_messages_after`, if the user may still read the room (else the policy's refusal)."""
    return _messages_after(policy.room_to_read(slug=slug, user=user), after_seq, limit)


@login_not_required  # DRF-style 401s, and Bearer tokens as well as the session
# DRF checks CSRF itself, for session-authenticated requests only (as every APIView is exempt
# from Django's middleware): a Bearer or Api-Key POST carries no cookie to forge.
@csrf_exempt
async def room_messages(request: HttpRequest, slug: str) -> HttpResponse:
    """The messages endpoint; `after_seq=N&wait=S` makes the GET a long poll (async, no thread)."""
    if request.method != "GET" or "wait" not in request.GET:
        return await sync_to_async(_messages_api)(request, slug=slug)
    query = LongPollQuerySerializer(data=request.GET)
    if not query.is_valid():
        return JsonResponse(query.errors, status=400)
    after_seq, wait, limit = (query.validated_data[k] for k in ("after_seq", "wait", "limit"))
    room, credential, refusal = await _room_for(request, slug)
    if refusal:
        return refusal
    slot = StreamSlot(credential, request)
    if refusal := await slot.take():
        return refusal
    subscriber = QueueSubscriber(size=100)
    groups = (room_group(room.pk), user_group(credential.user.pk))
    try:
        for group in groups:
            await get_hub().subscribe(group, subscriber)
        # Subscribed first, then read: a message committed in between is in one or the other,
        # and so is a ban or kick since the room was read above (read again with the messages).
        try:
            messages = await sync_to_async(_readable_messages_after)(
                slug, credential.user, after_seq, limit
            )
        except DomainError as error:
            return _refusal(error)
        deadline = asyncio.get_running_loop().time() + min(wait, credential.remaining())
        while not messages:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            event = await subscriber.next(remaining)
            if event is None:
                break
            if stream_ends(event, credential, room_id=room.pk):
                # Banned, kicked or signed out while waiting: answer as a new request would.
                return await _refusal_after(event, slug, credential)
            news = event.get("seq") is not None and event["seq"] > after_seq
            if news or event["type"] == RESYNC:
                messages = await sync_to_async(_messages_after)(room, after_seq, limit)
    finally:
        for group in groups:
            await get_hub().unsubscribe(group, subscriber)
        await slot.release()
    return JsonResponse(messages, safe=False)


_messages_api = MessageListCreateApi.as_view()
# The OpenAPI schema documents this URL by the DRF view behind it (drf-spectacular reads `cls`).
room_messages.cls = MessageListCreateApi
room_messages.initkwargs = {}


@login_not_required
async def room_events(request: HttpRequest, slug: str) -> HttpResponse:
    """The room's message frames as Server-Sent Events, id = seq; Last-Event-ID resumes."""
    room, credential, refusal = await _room_for(request, slug)
    if refusal:
        return refusal
    after_seq = last_event_id(request, "after_seq")
    if after_seq is None:
        after_seq = await sync_to_async(selectors.room_last_seq)(room=room)
    slot = StreamSlot(credential, request)
    if refusal := await slot.take():
        return refusal
    return sse_response(_room_stream(room, after_seq, credential, slot), slot)


async def _room_stream(room, after_seq: int, credential: StreamCredential, slot: StreamSlot):
    subscriber = QueueSubscriber()
    groups = (room_group(room.pk), user_group(credential.user.pk))
    high_seq = after_seq

    async def catch_up():
        nonlocal high_seq
        while True:
            batch = await sync_to_async(_messages_after)(room, high_seq, 200)
            for message in batch:
                high_seq = message["seq"]
                yield sse("message", {"type": "message", "message": message}, high_seq)
            if len(batch) < 200:
                return

    try:
        for group in groups:
            await get_hub().subscribe(group, subscriber)
        try:
            # Subscribed, then read again: a ban or kick since the room was read reaches it.
            await sync_to_async(policy.room_to_read)(slug=room.slug, user=credential.user)
        except DomainError:
            return  # the client's reconnect gets the refusal, as after a ban while streaming
        yield "retry: 2000\n\n"
        async for chunk in catch_up():
            yield chunk
        while True:
            if credential.remaining() <= 0:
                return  # the token expired: the reconnect gets 401, as the socket gets 4001
            event = await subscriber.next(min(KEEPALIVE_SECONDS, credential.remaining()))
            if event is None:
                if credential.remaining() > 0:
                    yield ": keepalive\n\n"
                continue
            if event["type"] == RESYNC:
                async for chunk in catch_up():
                    yield chunk
                continue
            if event["type"] == "hub.close":
                # Banned, kicked or signed out: the stream ends as the socket would, and the
                # client's reconnect gets the refusal (403 or 401).
                if stream_ends(event, credential, room_id=room.pk):
                    return
                continue
            if event["type"] != "hub.frame":
                continue
            seq = event.get("seq")
            if seq is not None:
                # Same rule as the socket: in order, no duplicates, gaps filled from the database.
                if seq > high_seq:
                    async for chunk in catch_up():
                        yield chunk
                continue
            frame = json.loads(event["text"])
            if frame["type"] in STREAMED_TYPES:
                yield sse(frame["type"], frame)
    finally:
        for group in groups:
            await get_hub().unsubscribe(group, subscriber)
        await slot.release()
