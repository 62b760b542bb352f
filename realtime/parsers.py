"""The bounds on API request bodies: JSON for every DRF view (DEFAULT_PARSER_CLASSES), and
multipart uploads (SWITCHBOARD_MAX_UPLOAD_BYTES) for the views that take files."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework.parsers import JSONParser, MultiPartParser
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
            raise too_large(limit)
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise too_large(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding))
        except (ValueError, RecursionError) as error:
            # RecursionError: the decoder's answer to nesting deeper than the stack allows.
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise Invalid(f"The body is not valid JSON: {reason}.", code="invalid_json") from None


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is over the limit of {limit} bytes.")


# What a multipart envelope adds to the file it carries (boundaries, part headers, a name).
MULTIPART_OVERHEAD = 16 * 1024


class _UploadBound(FileUploadHandler):
    """Counts the file bytes as they stream in and stops at the limit, whatever the request
    declared (a missing or false Content-Length): nothing past it is kept."""

    def __init__(self, request=None, limit: int = 0) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise too_large(self.limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class BoundedMultiPartParser(MultiPartParser):
    """DRF's multipart parser for uploads of at most SWITCHBOARD_MAX_UPLOAD_BYTES: a declared
    Content-Length over it is refused (413) before anything is parsed, and the file's bytes
    are counted as they stream in."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.SWITCHBOARD_MAX_UPLOAD_BYTES
        request = parser_context["request"]
        declared = request.META.get("CONTENT_LENGTH")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise too_large(limit)
        request.upload_handlers.insert(0, _UploadBound(request, limit))
        return super().parse(stream, media_type, parser_context)
