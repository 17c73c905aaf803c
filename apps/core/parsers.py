"""JSON from users, bounded: a size limit on API bodies and a depth limit on every parse.

Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards only `request.body` and form posts; this parser reads
the JSON stream itself, so without its limit an API request could be as large as the client likes. Used
for every API endpoint (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES) with API_MAX_REQUEST_BYTES;
finance's batch endpoint subclasses it with its own larger FINANCE_MAX_REQUEST_BYTES.

`json_loads` is the one parse of JSON that users send (API bodies, JSON Lines uploads and
imports): nesting deeper than JSON_MAX_DEPTH is refused with JSONTooDeep (a ValueError) instead
of the decoder's RecursionError, a server error.
"""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.db import models
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from ml_core.data import JSONTooDeep, json_loads_bounded

__all__ = ["BOUNDED_JSON_FORMFIELDS", "BoundedJSONFormField", "JSONTooDeep", "LimitedJSONParser", "RequestTooLarge",
           "json_loads"]


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def json_loads(text: str | bytes, **options: Any) -> Any:
    """json.loads for input from users; JSONTooDeep beyond JSON_MAX_DEPTH nested arrays / objects."""
    return json_loads_bounded(text, max_depth=settings.JSON_MAX_DEPTH, **options)


class BoundedJSONDecoder(json.JSONDecoder):
    """The decoder of JSON form fields: too deep reads as invalid JSON (a form error), not a 500."""

    def decode(self, s, *args, **kwargs):
        try:
            return json_loads(s)
        except JSONTooDeep as exc:
            raise json.JSONDecodeError(str(exc), s, 0) from None


class BoundedJSONFormField(forms.JSONField):
    """forms.JSONField with the depth limit; model JSONFields pass decoder=None, hence the `or`."""

    def __init__(self, *, decoder=None, **kwargs):
        super().__init__(decoder=decoder or BoundedJSONDecoder, **kwargs)


# ModelAdmin.formfield_overrides for models with JSON fields that staff edit in the back office.
BOUNDED_JSON_FORMFIELDS = {models.JSONField: {"form_class": BoundedJSONFormField}}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class LimitedJSONParser(BaseParser):
    # Not a JSONParser subclass: DRF reads `request.body` for those, which Django caps at
    # DATA_UPLOAD_MAX_MEMORY_SIZE before this limit is even looked at.
    media_type = "application/json"
    renderer_class = JSONRenderer
    limit_setting = "API_MAX_REQUEST_BYTES"
    invalid_message = "JSON parse error"

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
            return json_loads(raw.decode(parser_context.get("encoding") or settings.DEFAULT_CHARSET),
                              parse_constant=_reject_constant)
        except JSONTooDeep as exc:
            raise exceptions.ParseError(f"{exc} (JSON_MAX_DEPTH)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"{self.invalid_message} - {exc}") from exc
