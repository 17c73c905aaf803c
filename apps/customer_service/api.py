"""The public chat API the widget (or a site's own code) calls. Thin: the edge checks and services.

Every request names a site key and must come from one of that site's allowed origins (the
browser's Origin header, or the widget frame's signed token); requests are counted per IP and
per site key; writes accept an `Idempotency-Key` header and replay the first response to it.
Errors are `{"detail": "..."}` with the status that fits.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.validation import is_ascii_integer

from .serializers import (
    ChatErrorSerializer,
    ChatRequestSerializer,
    ChatResponseSerializer,
    FeedbackRequestSerializer,
    FeedbackResultSerializer,
    HandoffRequestSerializer,
    HandoffResultSerializer,
    HistorySerializer,
)
from .services.chat import (
    ChatError,
    chat_feedback_record,
    chat_handoff_request,
    chat_message_handle,
    conversation_history,
)
from .services.widget import (
    EdgeError,
    any_site_allows,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    rate_limit_check,
    request_origin,
    site_get,
)

ALLOWED_HEADERS = "Content-Type, Idempotency-Key, X-Widget-Token"
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Send the same key again (e.g. a retry after a timeout) and get the first response back, "
                "with the header Idempotent-Replayed: true. The same key with a different body is refused (422).")
WIDGET_TOKEN_HEADER = OpenApiParameter(
    "X-Widget-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Set by the widget frame; other callers are identified by their Origin header.")


ERROR = ChatErrorSerializer
# A body that fails validation is answered per field ({"text": ["This field may not be blank."]});
# other refusals as {"detail": "..."}.
BAD_REQUEST = OpenApiResponse(
    response={"type": "object", "properties": {"detail": {"type": "string"}},
              "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                                 {"type": "object"}]}},
    description='{"detail": "..."}, or the invalid fields, each with its messages')
ERRORS = {400: BAD_REQUEST, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 422: ERROR, 429: ERROR}


# --- views ---------------------------------------------------------------------------------------
class PublicChatView(APIView):
    """No session, no CSRF (nothing rides on cookies): the site key and its origins guard it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def handle_exception(self, exc):
        if isinstance(exc, (EdgeError, ChatError)):
            headers = {"Retry-After": str(exc.retry_after)} if getattr(exc, "retry_after", None) else None
            return Response({"detail": str(exc)}, status=exc.status, headers=headers)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = getattr(request, "cors_origin", None)
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
        return response

    def options(self, request, *args, **kwargs):
        """CORS preflight: answered for any origin some active site allows."""
        origin = request.headers.get("Origin")
        if origin and any_site_allows(origin):
            request.cors_origin = origin
        return Response(status=status.HTTP_204_NO_CONTENT)

    def edge(self, request: Request, site_key: str, *, kind: str = "chat"):
        """The site, after the origin check and the rate limits."""
        site = site_get(public_key=site_key)
        header = request.headers.get("Origin")
        _origin, via_widget = request_origin(site=site, origin_header=header,
                                            widget_token=request.headers.get("X-Widget-Token"))
        if header and not via_widget:
            request.cors_origin = header
        rate_limit_check(request=request._request, site=site, kind=kind)
        return site

    @staticmethod
    def validated(serializer_class, data) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise EdgeError("the body must be a JSON object")
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def idempotent(self, request: Request, site, endpoint: str, body: dict, run: Callable[[], dict]) -> Response:
        claim = idempotency_claim(scope=f"{site.public_key}:{endpoint}", key=request.headers.get("Idempotency-Key"),
                                  payload=body)
        if claim.replay is not None:
            code, stored = claim.replay
            return Response(stored, status=code, headers={"Idempotent-Replayed": "true"})
        try:
            result, code = run(), 200
        except ChatError as exc:
            result, code = {"detail": str(exc)}, exc.status
        except BaseException:
            idempotency_release(claim=claim)
            raise
        idempotency_complete(claim=claim, status=code, body=result)
        return Response(result, status=code)


class ChatView(PublicChatView):
    @extend_schema(
        operation_id="chat_send", request=ChatRequestSerializer,
        responses={200: ChatResponseSerializer, **ERRORS}, parameters=[IDEMPOTENCY_HEADER, WIDGET_TOKEN_HEADER],
        summary="Send a customer's message and get the assistant's reply",
        description="The reply says which intent was understood, how confident the assistant is, where the "
                    "answer comes from (template: the intent's entry; retrieval: the nearest knowledge-base "
                    "text; clarify: a question offering two entries; generated: composed from entries, which "
                    "it cites; handoff: passed to a person) and the entries used.")
    def post(self, request: Request) -> Response:
        body = self.validated(ChatRequestSerializer, request.data)
        site = self.edge(request, body["site_key"])
        return self.idempotent(request, site, "chat", body, lambda: chat_message_handle(
            site=site, text=body["text"], conversation_id=body.get("conversation_id"), choice=body.get("choice"),
            context=body.get("context")))


class FeedbackView(PublicChatView):
    @extend_schema(operation_id="chat_feedback", request=FeedbackRequestSerializer,
                   responses={200: FeedbackResultSerializer, **ERRORS},
                   parameters=[IDEMPOTENCY_HEADER, WIDGET_TOKEN_HEADER],
                   summary="Say whether a reply helped",
                   description="Only for a reply of the conversation named: a reply of another conversation "
                               "is answered 404 and nothing changes.")
    def post(self, request: Request) -> Response:
        body = self.validated(FeedbackRequestSerializer, request.data)
        site = self.edge(request, body["site_key"])
        return self.idempotent(request, site, "feedback", body, lambda: chat_feedback_record(
            site=site, conversation_id=body["conversation_id"], message_id=body["message_id"],
            helpful=body["helpful"]))


class HandoffView(PublicChatView):
    @extend_schema(operation_id="chat_handoff", request=HandoffRequestSerializer,
                   responses={200: HandoffResultSerializer, **ERRORS},
                   parameters=[IDEMPOTENCY_HEADER, WIDGET_TOKEN_HEADER],
                   summary="Ask for a person: the conversation joins the operators' queue")
    def post(self, request: Request) -> Response:
        body = self.validated(HandoffRequestSerializer, request.data)
        site = self.edge(request, body["site_key"])
        return self.idempotent(request, site, "handoff", body, lambda: chat_handoff_request(
            site=site, conversation_id=body["conversation_id"]))


class HistoryView(PublicChatView):
    @extend_schema(operation_id="chat_history", responses={200: HistorySerializer, **ERRORS},
                   parameters=[
                       OpenApiParameter("site_key", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True),
                       OpenApiParameter("after", OpenApiTypes.INT, OpenApiParameter.QUERY,
                                        description="Only messages with a larger id (polling)"),
                       WIDGET_TOKEN_HEADER],
                   summary="A conversation's messages (the widget polls it for operators' replies)")
    def get(self, request: Request, conversation_id) -> Response:
        site = self.edge(request, request.query_params.get("site_key", ""), kind="history")
        after = request.query_params.get("after") or None
        if after is not None and not is_ascii_integer(after):
            raise EdgeError("after must be a message id (a whole number, digits 0-9)")
        return Response(conversation_history(site=site, conversation_id=conversation_id,
                                             after=int(after) if after else None))
