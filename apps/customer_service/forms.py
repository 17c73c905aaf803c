"""Forms of the operator console (each POST carries the CSRF token; templates add it)."""
from __future__ import annotations

import json

from django import forms

from apps.core.parsers import BoundedJSONDecoder, json_loads

from .models import AssistantSettings, KBEntry, Site
from .services.kb import EntryFields, KBError, normalise_intent
from .services.kb_io import FORMATS, GROUPINGS, ROLES, import_too_large, parse_mapping
from .smalltalk import KINDS as SMALLTALK_KINDS


def intent_in_words(intent: str) -> str:
    """"track_order" -> "track order" where saving the words gives the same name back, else the name."""
    words = intent.replace("_", " ")
    try:
        return words if normalise_intent(words) == intent else intent
    except KBError:
        return intent


class EntryForm(forms.Form):
    title = forms.CharField(max_length=200, required=False,
                            help_text="Shown to customers in clarifying questions and citations")
    intent = forms.CharField(max_length=100,
                             help_text="What the customer wants, in a few words, e.g. \u201ccancel order\u201d; "
                                       "entries with the same intent answer the same request")
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}),
                             help_text="Placeholders such as {{Order Number}} are filled from the conversation")
    questions = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, label="Example questions",
                                help_text="How customers ask for this, one question per line (personal data is masked)")
    tags = forms.CharField(max_length=300, required=False, help_text="Comma-separated")
    language = forms.CharField(max_length=12, initial="en")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    @classmethod
    def for_entry(cls, entry: KBEntry) -> EntryForm:
        return cls(initial={"title": entry.title, "intent": intent_in_words(entry.intent), "answer": entry.answer,
                            "questions": "\n".join(e.text for e in entry.examples.all()),
                            "tags": ", ".join(entry.tags), "language": entry.language,
                            "is_active": entry.is_active})

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["fields"] = EntryFields.clean(title=data.get("title", ""), answer=data.get("answer", ""),
                                               intent=data.get("intent", ""), tags=data.get("tags", ""),
                                               language=data.get("language", "en"), is_active=data.get("is_active"))
        except KBError as exc:
            raise forms.ValidationError(str(exc))
        data["question_list"] = [q for q in (data.get("questions") or "").splitlines() if q.strip()]
        return data


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV (header row) or JSON Lines, UTF-8")
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="csv",
                               help_text="bitext: instruction, intent, category, response; "
                                         "csv / jsonl: question, answer, intent (title, tags, language optional)")
    grouping = forms.ChoiceField(choices=[("", "format's default")] + [(g, g) for g in GROUPINGS], required=False,
                                 help_text="answer: one entry per distinct answer of an intent; intent: one entry "
                                           "per intent")
    columns = forms.CharField(required=False, max_length=500,
                              help_text=f"Column mapping ROLE=COLUMN, comma-separated; roles: {', '.join(ROLES)}")
    replace = forms.BooleanField(required=False, label="Replace the knowledge base",
                                 help_text="Delete every entry first")

    def clean_file(self):
        """Refuse a file over CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES before reading it; the view answers 413."""
        upload = self.cleaned_data["file"]
        too_large = import_too_large(size=upload.size, name=upload.name)
        if too_large:
            self.too_large = True
            raise forms.ValidationError(f"Nothing was imported: {too_large}")
        return upload

    def clean_columns(self):
        try:
            return parse_mapping(self.cleaned_data.get("columns") or "")
        except KBError as exc:
            raise forms.ValidationError(str(exc))


class ReplyForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class TeachForm(forms.Form):
    """Turn customer questions into example questions of an entry."""

    questions = forms.CharField(widget=forms.HiddenInput)
    entry = forms.ModelChoiceField(queryset=KBEntry.objects.filter(is_active=True).order_by("intent", "title"),
                                   required=False, empty_label="— a new entry answered with the reply below —")
    new_intent = forms.CharField(max_length=100, required=False)
    new_title = forms.CharField(max_length=200, required=False)
    new_answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)

    def clean_questions(self):
        try:
            ids = [int(x) for x in self.cleaned_data["questions"].split(",") if x.strip()]
        except ValueError:
            raise forms.ValidationError("bad question ids")
        if not ids:
            raise forms.ValidationError("no question selected")
        return ids

    def clean(self):
        data = super().clean()
        if self.errors or data.get("entry"):
            return data
        try:
            data["new_entry"] = EntryFields.clean(title=data.get("new_title", ""), answer=data.get("new_answer", ""),
                                                  intent=data.get("new_intent", ""))
        except KBError as exc:
            raise forms.ValidationError(f"New entry: {exc}")
        return data


class LabelForm(forms.Form):
    intent = forms.CharField(max_length=100)


class PlaceholderValuesField(forms.CharField):
    """A site's values for answer placeholders, one per line as `Name = value` (a JSON object of
    texts is read too). Too deep JSON is a form error, not a 500."""

    widget = forms.Textarea(attrs={"rows": 4, "placeholder": "Website Name = shop.example.com"})
    INVALID = "Write one placeholder per line as Name = value, e.g. Website Name = shop.example.com"

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{name} = {text}" for name, text in value.items())
        return value

    def to_python(self, value) -> dict:
        text = super().to_python(value)
        if not text:
            return {}
        if text.startswith(("{", "[")):
            try:
                values = json.loads(text, cls=BoundedJSONDecoder)
            except ValueError:
                raise forms.ValidationError("Enter a valid JSON object of texts, or " + self.INVALID[0].lower()
                                            + self.INVALID[1:])
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise forms.ValidationError(self.INVALID)
            return values
        values = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            name, equals, value = line.partition("=")
            if not equals or not name.strip():
                raise forms.ValidationError(f"{self.INVALID} (not: {line.strip()[:80]})")
            values[name.strip()] = value.strip()
        return values


class SiteForm(forms.ModelForm):
    placeholder_values = PlaceholderValuesField(
        required=False, label="Placeholder values",
        help_text="Fill answer placeholders such as {{Website Name}}: one per line as Name = value. "
                  "A value learnt in the conversation (an order number) takes precedence.")

    class Meta:
        model = Site
        fields = ["name", "allowed_origins", "is_active", "greeting", "placeholder_values", "rate_limit_per_ip",
                  "rate_limit_per_site"]
        widgets = {"allowed_origins": forms.Textarea(attrs={"rows": 3})}
        labels = {"allowed_origins": "Allowed addresses", "is_active": "Active (the widget answers)",
                  "rate_limit_per_ip": "Chat requests per visitor", "rate_limit_per_site": "Chat requests for the site"}
        help_texts = {
            "allowed_origins": "One address per line, as the browser sends it: scheme, host and port, no path "
                               "(e.g. https://shop.example.com). The widget answers only on pages at these addresses.",
            "rate_limit_per_ip": "How many requests one visitor (IP address) may send, e.g. 20/m: a number per "
                                 "second (/s), minute (/m), hour (/h) or day (/d)",
            "rate_limit_per_site": "How many requests all visitors of this site together may send, e.g. 1200/m"}


class SettingsForm(forms.ModelForm):
    handoff_intents = forms.CharField(required=False, label="Intents handed to a person",
                                      help_text="Comma-separated, in words or as the knowledge base writes them, "
                                                "e.g. \u201ccontact human agent, complaint\u201d")

    class Meta:
        model = AssistantSettings
        fields = ["answer_threshold", "clarify_margin", "retrieval_precision", "handoff_intents",
                  "open_intent_refusal_rate", "open_intent_reply", "generation_enabled", "generation_max_tokens"]
        labels = {"generation_enabled": "Compose answers with SmolLM2-135M-Instruct",
                  "generation_max_tokens": "Longest composed answer (tokens)"}
        widgets = {"open_intent_reply": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            # In words ("contact human agent"); saving turns them back into the intents' names.
            self.initial["handoff_intents"] = ", ".join(intent_in_words(str(intent))
                                                        for intent in self.instance.handoff_intents or [])

    def clean_handoff_intents(self):
        raw = self.cleaned_data.get("handoff_intents") or ""
        if raw.strip().startswith("["):
            try:
                return json_loads(raw)
            except ValueError:  # JSONTooDeep is one too
                raise forms.ValidationError("not a JSON list")
        try:
            return [normalise_intent(x) for x in raw.split(",") if x.strip()]
        except KBError as exc:
            raise forms.ValidationError(str(exc))


class SmallTalkForm(forms.Form):
    """One kind of small talk: its answer and more phrases that mean it."""

    kind = forms.ChoiceField(choices=[(k, label) for k, (label, _) in SMALLTALK_KINDS.items()], widget=forms.HiddenInput)
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    examples = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000,
                               help_text="More phrases of this kind, one per line (the built-in ones always count)")
