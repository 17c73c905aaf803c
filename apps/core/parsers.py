"""A JSON parser with a size limit: DRF's own reads a body of any size into memory.

Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards only `request.body` and form posts; DRF reads the
JSON stream itself, so without this an API request could be as large as the client likes. Used
for every API endpoint (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES) with API_MAX_REQUEST_BYTES;
finance's batch endpoint keeps its own larger FINANCE_MAX_REQUEST_BYTES.
"""
from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class LimitedJSONParser(JSONParser):
    limit_setting = "API_MAX_REQUEST_BYTES"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context.get("request")
        limit = getattr(settings, self.limit_setting)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        if length > limit:
            raise RequestTooLarge(f"the request body is {length:,} bytes; the limit is {limit:,} "
                                  f"({self.limit_setting})")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestTooLarge(f"the request body is over {limit:,} bytes ({self.limit_setting})")
        try:
            # As DRF's strict JSON: NaN and Infinity are not JSON.
            return json.loads(raw.decode(parser_context.get("encoding") or settings.DEFAULT_CHARSET),
                              parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
