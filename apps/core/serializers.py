from rest_framework import serializers

from .models import Job, ModelVersion


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "kind", "title", "scenario", "state", "progress", "message", "params", "metrics",
            "result", "error", "cancel_requested", "attempts", "created_by", "created_at",
            "started_at", "finished_at",
        ]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id", "scenario", "version", "sha256", "base_model", "metrics",
            "training_data_summary", "is_active", "activated_at", "created_at",
        ]
        read_only_fields = fields
