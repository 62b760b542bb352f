"""One bound on API request bodies, for every DRF view (DEFAULT_PARSER_CLASSES)."""

from django.conf import settings
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from realtime.errors import DomainError, Invalid


class BodyTooLarge(DomainError):
    code = "too_large"
    status = 413


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with Django's body limit (DATA_UPLOAD_MAX_MEMORY_SIZE), which DRF's
    own skips by reading request.stream; and any undecodable body, however deep, is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and declared and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise _too_large(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding))
        except (ValueError, RecursionError) as error:
            # RecursionError: the decoder's answer to nesting deeper than the stack allows.
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise Invalid(f"The body is not valid JSON: {reason}.", code="invalid_json") from None


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is over the limit of {limit} bytes.")
