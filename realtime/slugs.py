"""Slugs derived from a name, made unique within a model (rooms, dashboards)."""

from django.db.models import Model
from django.utils.text import slugify


def free_slug(model: type[Model], name: str, *, fallback: str) -> str:
    """`slugify(name)`, or `<slug>-2`, `-3`, … if taken; the unique constraint still decides."""
    base = slugify(name)[:40] or fallback
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug
