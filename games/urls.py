from django.urls import path

from games import apis, views

api_urlpatterns = [
    path("rooms/<slug:slug>/games/", apis.RoomGameListCreateApi.as_view(), name="room-games"),
    path("games/leaderboard/", apis.LeaderboardApi.as_view(), name="games-leaderboard"),
    path("games/<int:game_id>/", apis.GameDetailApi.as_view(), name="game-detail"),
]

page_urlpatterns = [
    path("games/<int:game_id>/", views.game_page, name="game"),
]
