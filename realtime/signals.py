"""Account events that end sockets and tokens. The handlers only call realtime.sessions.

Each end is sent once the credential has ended where a socket's connect reads it: a socket that
reads it after the close has gone out finds it ended (with autocommit, `on_commit` sends at
once, so the order here is what decides)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from realtime.sessions import user_credentials_end, user_sockets_end


@receiver(user_logged_out)
def end_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        # Logout flushes the session after its receivers: the stored session goes now, while
        # request.session keeps its key for the others (django-axes finds its access log by
        # it). Only the sockets opened with this session close; other devices keep theirs.
        key = request.session.session_key
        if key is not None:
            request.session.delete(key)
        user_sockets_end(user_id=user.pk, session_key=key)


@receiver(pre_save, sender=get_user_model())
def note_credential_change(sender, instance, update_fields=None, **kwargs) -> None:
    """A new password or a deactivated account: noted here, on every save (a save that failed
    leaves nothing for the next), and ended once saved (below). Only what this save writes."""
    instance._credentials_ended = False
    if instance.pk is None:
        return
    writes = set(update_fields) if update_fields is not None else {"password", "is_active"}
    if not writes & {"password", "is_active"}:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    new_password = "password" in writes and before["password"] != instance.password
    deactivated = "is_active" in writes and before["is_active"] and not instance.is_active
    instance._credentials_ended = new_password or deactivated


@receiver(post_save, sender=get_user_model())
def end_sockets_on_credential_change(sender, instance, **kwargs) -> None:
    """... ends the user's sockets and tokens, once the row says so."""
    if instance.__dict__.pop("_credentials_ended", False):
        user_credentials_end(user_id=instance.pk)
