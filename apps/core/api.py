"""REST API of the core: jobs (read, cancel) and model versions (read)."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from . import selectors
from .models import Job
from .serializers import JobSerializer, ModelVersionSerializer
from .services.jobs import job_cancel


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = JobSerializer
    queryset = Job.objects.none()

    def get_queryset(self):
        return Job.objects.select_related("created_by").order_by("-created_at")

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        if not job.is_cancellable:
            return Response(
                {"detail": f"job is {job.state}; only queued or running jobs can be cancelled"},
                status=409,
            )
        return Response(JobSerializer(job_cancel(job=job)).data)


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        return selectors.model_version_list(scenario=self.request.query_params.get("scenario"))
