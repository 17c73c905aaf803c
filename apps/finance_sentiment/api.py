"""REST API of finance sentiment (/api/v1/finance/...). Thin: selectors and services.

Systems that post documents authenticate with an API key that has the "finance" scope
(`Authorization: Bearer <key>`, created by an admin in the console or the back office; see
apps.core.api_keys); people use their session (CSRF applies to writes).
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import parsers
from apps.core.api_keys import ApiKeyAuthentication, IsOperatorOrApiKey, request_api_key
from apps.core.models import ApiKey

from . import selectors
from .models import IngestBatch, Topic
from .selectors import DocumentFilters, FilterError, TrendQuery
from .serializers import (
    AlertSerializer,
    BatchInSerializer,
    BatchResultSerializer,
    BatchSerializer,
    DocumentSerializer,
    TopicSerializer,
    TrendSerializer,
)
from .services.alerts import alert_acknowledge
from .services.ingestion import IngestError, documents_ingest


class LimitedJSONParser(parsers.LimitedJSONParser):
    """JSON bodies up to FINANCE_MAX_REQUEST_BYTES, with a clear 413 beyond.

    Batches are larger than API_MAX_REQUEST_BYTES allows other endpoints: an oversized item must
    be rejected on its own while the rest of the batch is kept.
    """

    limit_setting = "FINANCE_MAX_REQUEST_BYTES"
    invalid_message = "the body is not valid JSON"


def _bad_filter(exc: FilterError) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.parameter: [str(exc).split(": ", 1)[1]]})


# A 400 is the batch result (every item rejected), {"documents": ["why"]} (not a batch at all) or
# {"detail": "why"} (not JSON).
BATCH_REFUSED = {"anyOf": [
    {"$ref": "#/components/schemas/BatchResult"},
    {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]},
]}

DOCUMENT_FILTERS = [
    OpenApiParameter("topic", str, description="Topic id, slug or name"),
    OpenApiParameter("ticker", str, description="Ticker symbol"),
    OpenApiParameter("sentiment", str, enum=["negative", "neutral", "positive"]),
    OpenApiParameter("source", str, description="Exact source name (case-insensitive)"),
    OpenApiParameter("q", str, description="Words in the title or text"),
    OpenApiParameter("from", str, description="Published at or after (ISO 8601 date or date-time)"),
    OpenApiParameter("to", str, description="Published before (a date includes that whole day)"),
    OpenApiParameter("status", str, enum=["pending", "scored"]),
    OpenApiParameter("batch", int, description="Documents of one batch"),
]


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DocumentSerializer

    def get_authenticators(self):
        return [ApiKeyAuthentication(), SessionAuthentication()]

    def get_permissions(self):
        if self.action == "create":
            return [IsOperatorOrApiKey(ApiKey.Scope.FINANCE)]
        return super().get_permissions()

    def get_parsers(self):
        return [LimitedJSONParser()]

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.document_list()
        try:
            return selectors.document_list(filters=DocumentFilters.from_params(self.request.query_params))
        except FilterError as exc:
            raise _bad_filter(exc) from exc

    @extend_schema(parameters=DOCUMENT_FILTERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=BatchInSerializer,
        responses={202: BatchResultSerializer,
                   400: OpenApiResponse(BATCH_REFUSED, description="Nothing accepted (the batch result), or not a "
                                                                   "batch (the field and why)"),
                   413: OpenApiResponse(description="Body over FINANCE_MAX_REQUEST_BYTES")},
        description="Post a batch of documents (`{\"documents\": [...]}` or a bare array). Each item is checked "
                    "on its own: bad or duplicate items are listed in `rejections` with their index, field and "
                    "reason, and the good ones are stored and scored by a job (202). When no item is accepted "
                    "the answer is 400 with the same body.",
    )
    def create(self, request: Request) -> Response:
        body = request.data
        default_source, evaluate_alerts = "", True
        if isinstance(body, dict):
            if "documents" not in body:
                raise exceptions.ValidationError({"documents": ["missing: send {\"documents\": [...]}"]})
            default_source = body.get("source") or ""
            if not isinstance(default_source, str):
                raise exceptions.ValidationError({"source": ["must be a string"]})
            evaluate_alerts = body.get("evaluate_alerts", True)
            if not isinstance(evaluate_alerts, bool):
                raise exceptions.ValidationError({"evaluate_alerts": ["must be true or false"]})
            body = body["documents"]
        if not isinstance(body, list):
            raise exceptions.ValidationError({"documents": [f"must be an array of documents, got {type(body).__name__}"]})
        if not body:
            raise exceptions.ValidationError({"documents": ["the batch is empty"]})
        key = request_api_key(request)
        try:
            result = documents_ingest(
                items=body, origin=IngestBatch.Origin.API, label=key.name if key else request.user.get_username(),
                submitted_by=request.user, api_key=key, default_source=default_source[:200] or "api",
                evaluate_alerts=evaluate_alerts)
        except IngestError as exc:
            raise exceptions.ValidationError({"documents": [str(exc)]}) from exc
        code = status.HTTP_202_ACCEPTED if result.batch.accepted else status.HTTP_400_BAD_REQUEST
        return Response(result.to_dict(), status=code)


class BatchViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """What became of each batch: counts, rejections, the scoring job's state."""

    serializer_class = BatchSerializer

    def get_authenticators(self):
        return [ApiKeyAuthentication(), SessionAuthentication()]

    def get_permissions(self):
        return [IsOperatorOrApiKey(ApiKey.Scope.FINANCE)]

    def get_queryset(self):
        batches = IngestBatch.objects.select_related("job").order_by("-created_at")
        key = request_api_key(self.request)
        if key is not None:
            batches = batches.filter(api_key=key)  # a key sees its own batches
        return batches


class TrendView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("topic", str, description="Topic id, slug or name (default: all documents)"),
            OpenApiParameter("ticker", str, description="Ticker symbol (instead of a topic)"),
            OpenApiParameter("bucket", str, enum=["hour", "day"], description="Default hour"),
            OpenApiParameter("from", str, description="ISO 8601; default 7 days (hour) or 90 days (day) before `to`"),
            OpenApiParameter("to", str, description="ISO 8601; default now"),
        ],
        responses=TrendSerializer,
        description="Volume, sentiment counts, mean score and negative share per bucket (empty buckets included).",
    )
    def get(self, request: Request) -> Response:
        try:
            query = TrendQuery.from_params(request.query_params)
        except FilterError as exc:
            raise _bad_filter(exc) from exc
        return Response(TrendSerializer({"series": query.series, "label": query.label, "granularity": query.granularity,
                                         "from": query.start, "to": query.end, "points": query.points()}).data)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AlertSerializer

    def get_queryset(self):
        params = self.request.query_params
        state = params.get("state") or None
        if state and state not in ("open", "resolved"):
            raise exceptions.ValidationError({"state": ["must be open or resolved"]})
        acknowledged = params.get("acknowledged")
        if acknowledged not in (None, "", "true", "false"):
            raise exceptions.ValidationError({"acknowledged": ["must be true or false"]})
        try:
            topic = selectors.topic_from(params.get("topic"))
        except FilterError as exc:
            raise _bad_filter(exc) from exc
        return selectors.alert_list(state=state, topic=topic,
                                    acknowledged=None if not acknowledged else acknowledged == "true"
                                    ).prefetch_related("documents")

    @extend_schema(parameters=[
        OpenApiParameter("state", str, enum=["open", "resolved"]),
        OpenApiParameter("acknowledged", bool),
        OpenApiParameter("topic", str, description="Topic id, slug or name"),
    ])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=AlertSerializer,
                   description="Acknowledge the alert (idempotent: the first acknowledgement is kept).")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk=None) -> Response:
        alert = alert_acknowledge(alert=self.get_object(), user=request.user)
        return Response(AlertSerializer(selectors.alert_get(pk=alert.pk)).data)


class TopicViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TopicSerializer
    queryset = Topic.objects.order_by("name")
    pagination_class = None

