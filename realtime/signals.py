"""Account events that end sockets and tokens. The handlers only call realtime.sessions."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import pre_save
from django.dispatch import receiver

from realtime.sessions import user_credentials_end, user_sockets_end


@receiver(user_logged_out)
def end_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        # Sent before logout flushes the session, so its key is still there: the sockets opened
        # with this session close; the user's other devices keep theirs.
        user_sockets_end(user_id=user.pk, session_key=request.session.session_key)


@receiver(pre_save, sender=get_user_model())
def end_sockets_on_credential_change(sender, instance, **kwargs) -> None:
    """A new password or a deactivated account ends the user's sockets and tokens."""
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        user_credentials_end(user_id=instance.pk)
