from django.urls import path

from chat.consumers import RoomConsumer
from chat.notes_consumers import NotesConsumer

websocket_urlpatterns = [
    path("ws/rooms/<slug:slug>/", RoomConsumer.as_asgi()),
    path("ws/rooms/<slug:slug>/notes/", NotesConsumer.as_asgi()),
]
