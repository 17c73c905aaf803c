"""The chat API's request and response bodies; the schema at /api/schema/ is generated from them."""
from __future__ import annotations

from rest_framework import serializers

MAX_TEXT_CHARS = 2000


class EntryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Send feedback about this reply with this id")
    text = serializers.CharField()
    intent = serializers.CharField(allow_blank=True)
    confidence = serializers.FloatField(allow_null=True, help_text="Calibrated probability that the reply fits")
    source = serializers.ChoiceField(choices=["template", "retrieval", "clarify", "generated", "handoff"])
    entries = EntryRefSerializer(many=True, help_text="Knowledge-base entries the reply used (a clarifying "
                                                      "question: the options; send one back as `choice`)")


class ChatRequestSerializer(serializers.Serializer):
    site_key = serializers.CharField(max_length=64)
    conversation_id = serializers.UUIDField(required=False, allow_null=True,
                                            help_text="Omit to start a new conversation")
    text = serializers.CharField(max_length=MAX_TEXT_CHARS)
    choice = serializers.IntegerField(required=False, allow_null=True,
                                      help_text="An entry id offered by the last clarifying question")
    context = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), required=False,
                                    help_text='Values for answer placeholders, e.g. {"Order Number": "A-1"}')

    def validate_context(self, value: dict) -> dict:
        if len(value) > 20:
            raise serializers.ValidationError("at most 20 context values")
        return value


class ChatResponseSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["bot", "waiting", "operator", "closed"])
    message_id = serializers.IntegerField(help_text="The stored customer message")
    reply = ReplySerializer(allow_null=True, help_text="null while a person handles the conversation")


class FeedbackRequestSerializer(serializers.Serializer):
    site_key = serializers.CharField(max_length=64)
    conversation_id = serializers.UUIDField(help_text="The conversation the reply belongs to (as /chat/ returned it)")
    message_id = serializers.IntegerField(help_text="The reply's id")
    helpful = serializers.BooleanField()


class HandoffRequestSerializer(serializers.Serializer):
    site_key = serializers.CharField(max_length=64)
    conversation_id = serializers.UUIDField()


class HistoryMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["customer", "assistant", "operator"])
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    intent = serializers.CharField(required=False)
    confidence = serializers.FloatField(required=False, allow_null=True)
    source = serializers.CharField(required=False)
    entries = EntryRefSerializer(many=True, required=False)
    feedback = serializers.CharField(required=False, allow_null=True)


class HistorySerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    status = serializers.CharField()
    messages = HistoryMessageSerializer(many=True)


class ChatErrorSerializer(serializers.Serializer):  # a refusal: {"detail": "..."}
    detail = serializers.CharField()


class FeedbackResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    feedback = serializers.CharField()


class HandoffResultSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    status = serializers.CharField()
    reply = ReplySerializer(allow_null=True)
