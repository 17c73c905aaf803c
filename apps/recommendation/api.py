"""REST API of the recommendation app: recommendations, similar items, catalogue and event batches.

Thin: parse and check the query, call serving or services, shape the answer. Bad input gets a 400
that names the parameter; batch rows are accepted or rejected one by one.

A shop's backend calls the batch and read endpoints with an API key that has the
"recommendation" scope (`Authorization: Bearer <key>`, see apps.core.api_keys); operators use
their session. Retraining stays with admins (session only).
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_keys import ApiKeyAuthentication, IsOperatorOrApiKey
from apps.core.models import ApiKey
from apps.core.permissions import IsAdmin
from ml_core.errors import UserError

from . import selectors, services, serving
from .models import Category
from .serializers import (
    RecommendationBatchResultSerializer,
    RecommendationEventBatchSerializer,
    RecommendationItemBatchSerializer,
    RecommendationProblemSerializer,
    RecommendationRetrainStartedSerializer,
    RecommendationsSerializer,
    RecommendationUserBatchSerializer,
    SimilarItemsSerializer,
)

LIST_PARAMETERS = [
    OpenApiParameter("k", OpenApiTypes.INT, description=f"how many items, 1 to {serving.MAX_K} (default 10)"),
    OpenApiParameter("category", OpenApiTypes.STR, description="only items in this category"),
    OpenApiParameter("exclude", OpenApiTypes.STR, description="comma-separated item ids never to return"),
    OpenApiParameter("diversity", OpenApiTypes.FLOAT,
                     description="0 (pure relevance, default) to 1: MMR re-ranking for variety"),
]

# The key comes first: a missing or bad key is then a 401 that asks for one, not a 403.
KEY_OR_SESSION = [ApiKeyAuthentication, SessionAuthentication]
OPERATOR_OR_KEY = [IsOperatorOrApiKey(ApiKey.Scope.RECOMMENDATION)]


class BadParameter(Exception):
    pass


def _list_options(request: Request) -> dict:
    params = request.query_params
    raw_k = params.get("k", "10")
    try:
        k = int(raw_k)
    except ValueError:
        raise BadParameter(f"k must be a whole number between 1 and {serving.MAX_K}, not {raw_k!r}") from None
    if not 1 <= k <= serving.MAX_K:
        raise BadParameter(f"k must be between 1 and {serving.MAX_K}, not {k}")
    raw_diversity = params.get("diversity", "0")
    try:
        diversity = float(raw_diversity)
    except ValueError:
        raise BadParameter(f"diversity must be a number between 0 and 1, not {raw_diversity!r}") from None
    if not 0.0 <= diversity <= 1.0:
        raise BadParameter(f"diversity must be between 0 and 1, not {diversity}")
    category = params.get("category") or None
    if category and not Category.objects.filter(name=category).exists():
        raise BadParameter(f"unknown category {category!r}")
    exclude = tuple(i.strip() for i in params.get("exclude", "").split(",") if i.strip())
    return {"k": k, "category": category, "exclude": exclude, "diversity": diversity}


def _bad(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_400_BAD_REQUEST)


class RecommendationsView(APIView):
    authentication_classes = KEY_OR_SESSION
    permission_classes = OPERATOR_OR_KEY

    @extend_schema(parameters=LIST_PARAMETERS, responses=RecommendationsSerializer,
                   summary="Top-k recommendations for a user, each with a one-line reason")
    def get(self, request: Request, user: str) -> Response:
        try:
            options = _list_options(request)
        except BadParameter as exc:
            return _bad(str(exc))
        return Response(serving.recommendations_for_user(external_id=user, **options))


class SimilarItemsView(APIView):
    authentication_classes = KEY_OR_SESSION
    permission_classes = OPERATOR_OR_KEY

    @extend_schema(parameters=LIST_PARAMETERS,
                   responses={200: SimilarItemsSerializer, 503: OpenApiResponse(
                       RecommendationProblemSerializer, description="No recommender has been trained yet (train one first)")},
                   summary="Items similar to an item (behaviour and text), each with a one-line reason")
    def get(self, request: Request, item: str) -> Response:
        try:
            options = _list_options(request)
        except BadParameter as exc:
            return _bad(str(exc))
        if selectors.item_get(external_id=item) is None:
            return Response({"detail": f"unknown item {item!r}"}, status=status.HTTP_404_NOT_FOUND)
        try:
            return Response(serving.similar_items_for(external_id=item, **options))
        except serving.NoModelError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        except KeyError:
            return Response({"detail": f"item {item!r} is not known to the recommender yet: it is being "
                                       "embedded; try again in a moment"}, status=status.HTTP_409_CONFLICT)


def _batch_rows(request: Request, key: str):
    body = request.data
    if isinstance(body, dict) and key in body:
        return body[key]
    if isinstance(body, list):
        return body
    raise services.BatchError(f"send a JSON object {{\"{key}\": [...]}} or a JSON list")


def _batch_response(result: services.BatchResult, total: int) -> Response:
    failed = total > 0 and result.accepted == 0 and result.duplicates == 0
    return Response(result.as_dict(), status=status.HTTP_400_BAD_REQUEST if failed else status.HTTP_200_OK)


class _BatchView(APIView):
    authentication_classes = KEY_OR_SESSION
    permission_classes = OPERATOR_OR_KEY
    key = ""

    def store(self, rows) -> services.BatchResult:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        try:
            rows = _batch_rows(request, self.key)
            result = self.store(rows)
        except services.BatchError as exc:
            return _bad(str(exc))
        return _batch_response(result, len(rows))


class ItemBatchView(_BatchView):
    key = "items"

    @extend_schema(
        request=RecommendationItemBatchSerializer,
        responses=RecommendationBatchResultSerializer,
        summary="Create or update up to 1000 items: {id, title, description, categories, attributes, is_active}")
    def post(self, request: Request) -> Response:
        return super().post(request)

    def store(self, rows) -> services.BatchResult:
        return services.items_upsert(items=rows)


class UserBatchView(_BatchView):
    key = "users"

    @extend_schema(
        request=RecommendationUserBatchSerializer,
        responses=RecommendationBatchResultSerializer, summary="Create or update up to 1000 end users: {id, attributes}")
    def post(self, request: Request) -> Response:
        return super().post(request)

    def store(self, rows) -> services.BatchResult:
        return services.users_upsert(users=rows)


class EventBatchView(_BatchView):
    key = "events"

    @extend_schema(
        request=RecommendationEventBatchSerializer,
        responses=RecommendationBatchResultSerializer,
        summary="Record up to 1000 events: {user, item, kind (view/click/like/rating/purchase), value, "
                "timestamp, event_id}")
    def post(self, request: Request) -> Response:
        return super().post(request)

    def store(self, rows) -> services.BatchResult:
        return services.interactions_record(events=rows)


class RetrainView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None,
                   responses={202: RecommendationRetrainStartedSerializer,
                              400: OpenApiResponse(description="Not started: a training could only fail (the reason)")},
                   summary="Queue a training job for the recommender (admins)")
    def post(self, request: Request) -> Response:
        try:
            job = services.recommender_retrain_start(created_by=request.user, params={"activate": "if_better"})
        except UserError as exc:  # a start that could only fail is refused, with the reason
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"job": str(job.pk)}, status=status.HTTP_202_ACCEPTED)
