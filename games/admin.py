from django.contrib import admin

from games.models import Game, GamePlayer
from realtime.admin import ReadOnly


class GamePlayerInline(ReadOnly, admin.TabularInline):
    model = GamePlayer
    fields = ["seat", "user", "alive", "place"]


@admin.register(Game)
class GameAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["pk", "kind", "room", "status", "winner", "created_at", "ticks"]
    list_filter = ["status", "kind"]
    search_fields = ["room__slug", "created_by__username"]
    inlines = [GamePlayerInline]
