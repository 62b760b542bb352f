"""Server-rendered pages: the home page (room list) and a room."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import UserCreationForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat import selectors
from chat.serializers import RoomSerializer
from dashboard import selectors as dashboard_selectors
from realtime.errors import NotFound


def home(request: HttpRequest) -> HttpResponse:
    rooms = RoomSerializer(selectors.room_list_for_user(user=request.user), many=True).data
    joined = [room for room in rooms if room["is_member"]]
    public = [room for room in rooms if not room["is_member"]]
    dashboards = dashboard_selectors.dashboard_list_for_user(user=request.user)
    return render(
        request, "chat/home.html", {"joined": joined, "public": public, "dashboards": dashboards}
    )


def room_page(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        room = selectors.room_get_for_user(slug=slug, user=request.user)
    except NotFound:
        raise Http404("No such room.") from None
    if selectors.user_is_banned(room=room, user=request.user):
        return render(request, "chat/banned.html", {"room": room}, status=403)
    rooms = selectors.room_list_for_user(user=request.user).filter(memberships__user=request.user)
    return render(
        request,
        "chat/room.html",
        {"room": room, "room_data": RoomSerializer(room).data, "sidebar_rooms": rooms},
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
