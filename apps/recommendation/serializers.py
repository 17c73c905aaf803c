"""What the recommendation API sends and (for the schema) what it accepts.

The batch endpoints check their rows one by one in services (a bad row is reported, not the whole
batch refused), so their request serializers only describe the body for the schema.
"""
from __future__ import annotations

from rest_framework import serializers


class RecommendedItemSerializer(serializers.Serializer):
    item = serializers.CharField()
    title = serializers.CharField()
    categories = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField()
    reason = serializers.CharField()
    because = serializers.CharField(allow_null=True)


class RecommendationsSerializer(serializers.Serializer):
    user = serializers.CharField()
    known_user = serializers.BooleanField()
    history_items = serializers.IntegerField()
    strategy = serializers.CharField()
    model_version = serializers.IntegerField(allow_null=True)
    items = RecommendedItemSerializer(many=True)


class SimilarItemsSerializer(serializers.Serializer):
    item = serializers.CharField()
    title = serializers.CharField()
    model_version = serializers.IntegerField()
    items = RecommendedItemSerializer(many=True)


class RecommendationProblemSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RecommendationBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.DictField())


class RecommendationItemBatchSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField())


class RecommendationUserBatchSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.DictField())


class RecommendationEventBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField())


class RecommendationRetrainStartedSerializer(serializers.Serializer):
    job = serializers.UUIDField()
