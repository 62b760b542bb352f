from django.urls import path, re_path

from chat import apis, views

api_urlpatterns = [
    path("rooms/", apis.RoomListCreateApi.as_view(), name="room-list"),
    path("rooms/<slug:slug>/", apis.RoomDetailApi.as_view(), name="room-detail"),
    path("rooms/<slug:slug>/join/", apis.RoomJoinApi.as_view(), name="room-join"),
    path("rooms/<slug:slug>/leave/", apis.RoomLeaveApi.as_view(), name="room-leave"),
    path("rooms/<slug:slug>/members/", apis.RoomMembersApi.as_view(), name="room-members"),
    # One URL, two views: a long poll (`wait`) must not hold a thread, so the async view takes
    # it and hands everything else to the DRF view.
    path("rooms/<slug:slug>/messages/", views.room_messages, name="room-messages"),
    path(
        "rooms/<slug:slug>/messages/<int:message_id>/",
        apis.MessageDetailApi.as_view(),
        name="room-message-detail",
    ),
    path("rooms/<slug:slug>/read/", apis.RoomReadApi.as_view(), name="room-read"),
    path("dms/", apis.DmOpenApi.as_view(), name="dm-open"),
    path(
        "rooms/<slug:slug>/messages/<int:message_id>/replies/",
        apis.ReplyListApi.as_view(),
        name="room-message-replies",
    ),
    path(
        "rooms/<slug:slug>/messages/<int:message_id>/reactions/",
        apis.ReactionApi.as_view(),
        name="room-message-reactions",
    ),
    path("rooms/<slug:slug>/notes/", apis.NotesApi.as_view(), name="room-notes"),
    path(
        "rooms/<slug:slug>/notes/versions/",
        apis.NoteVersionListCreateApi.as_view(),
        name="room-note-versions",
    ),
    path(
        "rooms/<slug:slug>/notes/versions/<int:version_id>/restore/",
        apis.NoteVersionRestoreApi.as_view(),
        name="room-note-version-restore",
    ),
    # --- attachments and search (§9) ---
    path(
        "rooms/<slug:slug>/attachments/",
        apis.AttachmentUploadApi.as_view(),
        name="room-attachments",
    ),
    path(
        "rooms/<slug:slug>/attachments/<int:attachment_id>/",
        apis.AttachmentDownloadApi.as_view(),
        name="room-attachment",
    ),
    path(
        "rooms/<slug:slug>/attachments/<int:attachment_id>/thumbnail/",
        apis.AttachmentThumbnailApi.as_view(),
        name="room-attachment-thumbnail",
    ),
    path("search/", apis.SearchApi.as_view(), name="search"),
    re_path(
        r"^rooms/(?P<slug>[-\w]+)/(?P<action>ban|unban|kick|mute|unmute|role)/$",
        apis.ModerationApi.as_view(),
        name="room-moderation",
    ),
]

page_urlpatterns = [
    path("", views.home, name="home"),
    path("rooms/<slug:slug>/", views.room_page, name="room"),
    path("sse/rooms/<slug:slug>/", views.room_events, name="room-events"),
]
