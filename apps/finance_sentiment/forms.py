"""Console forms: topics, rules, watchlist, feeds, uploads, labels, training."""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.text import slugify

from .models import SENTIMENT_LABELS, AlertRule, Feed, LabelledSet, Ticker, Topic
from .services.training import SENTIMENT_DEFAULT_CONFIG


def _lines(value: str, *, commas: bool = False) -> list[str]:
    parts = value.replace(",", "\n").splitlines() if commas else value.splitlines()
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


class TopicForm(forms.ModelForm):
    keywords_text = forms.CharField(label="Keywords", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                    help_text="Comma- or line-separated; a literal match adds weight")
    examples_text = forms.CharField(label="Example sentences", required=False,
                                    widget=forms.Textarea(attrs={"rows": 5}), help_text="One per line")

    class Meta:
        model = Topic
        fields = ["name", "description", "threshold", "is_active"]
        labels = {"is_active": "Match documents to this topic"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["keywords_text"].initial = ", ".join(self.instance.keywords)
            self.fields["examples_text"].initial = "\n".join(self.instance.examples)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        slug = slugify(name)
        if not slug:
            raise forms.ValidationError("The name needs at least one letter or digit.")
        clash = Topic.objects.filter(slug=slug).exclude(pk=self.instance.pk).first()
        if clash:
            raise forms.ValidationError(f"Too close to the existing topic {clash.name!r}.")
        return name

    def clean(self):
        data = super().clean()
        keywords = _lines(data.get("keywords_text", ""), commas=True)
        examples = _lines(data.get("examples_text", ""))
        if not keywords and not examples:
            raise forms.ValidationError("Give at least one keyword or example sentence: they define the topic.")
        if any(len(k) > 100 for k in keywords):
            self.add_error("keywords_text", "A keyword is longer than 100 characters.")
        if len(examples) > 200:
            self.add_error("examples_text", f"{len(examples)} examples; 200 at most.")
        data["keywords"], data["examples"] = keywords, examples
        return data

    def save(self, commit: bool = True) -> Topic:
        topic = super().save(commit=False)
        topic.slug = slugify(topic.name)
        topic.keywords = self.cleaned_data["keywords"]
        topic.examples = self.cleaned_data["examples"]
        if commit:
            topic.save()
        return topic


class WebhookTargetForm(forms.ModelForm):
    """An alert rule's webhook: the URL (checked against the outbound policy by the model's
    validator) and a write-only secret, never rendered back; leaving it blank keeps the stored one.

    Shared by the console form and the back office (a ModelForm without Meta: subclasses name the model).
    """
    webhook_url = forms.URLField(max_length=1000, required=False, assume_scheme="https",
                                 help_text="Receives a JSON POST per alert, retried with back-off until it answers 2xx; "
                                           "internal addresses are refused")
    webhook_secret = forms.CharField(
        max_length=200, required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Signs the body: X-Signature-SHA256 = HMAC-SHA256(secret, body)")
    webhook_secret_clear = forms.BooleanField(required=False, label="Remove the stored webhook secret")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = [n for n in self.fields if n != "webhook_secret_clear"]
        self.order_fields(names[: names.index("webhook_secret") + 1] + ["webhook_secret_clear"])
        if self.instance.pk and self.instance.webhook_secret:
            self.fields["webhook_secret"].help_text = ("A secret is set; it is never shown. Leave blank to keep it, "
                                                       "type a new one to replace it.")

    def clean(self):
        data = super().clean()
        if data.get("webhook_secret_clear"):
            data["webhook_secret"] = ""
        elif not data.get("webhook_secret"):
            data["webhook_secret"] = self.instance.webhook_secret if self.instance.pk else ""
        return data


class AlertRuleForm(WebhookTargetForm):
    class Meta:
        model = AlertRule
        fields = ["name", "topic", "metric", "granularity", "baseline", "window", "z_threshold", "min_volume",
                  "min_increase", "min_history", "email_recipients", "webhook_url", "webhook_secret", "is_active"]
        widgets = {"email_recipients": forms.TextInput()}
        labels = {"is_active": "Check this rule"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].empty_label = "Every topic (each on its own)"
        self.fields["topic"].queryset = Topic.objects.filter(is_active=True)

    def clean_email_recipients(self) -> str:
        value = self.cleaned_data["email_recipients"]
        addresses = [a.strip() for a in value.replace(";", ",").split(",") if a.strip()]
        validator = forms.EmailField()
        for address in addresses:
            try:
                validator.clean(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"{address!r} is not an e-mail address.") from None
        return ", ".join(addresses)

    def clean(self):
        data = super().clean()
        if data.get("window") is not None and data["window"] < 2:
            self.add_error("window", "At least 2 buckets.")
        if data.get("z_threshold") is not None and data["z_threshold"] <= 0:
            self.add_error("z_threshold", "Must be positive.")
        if data.get("min_increase") is not None and data["min_increase"] < 0:
            self.add_error("min_increase", "Must be 0 or more.")
        if data.get("metric") == "negative_share" and data.get("min_increase") is not None and data["min_increase"] >= 1:
            self.add_error("min_increase", "For the negative share this is a fraction: 0.15 means 15 points.")
        for name in ("min_volume", "min_history"):
            if data.get(name) is not None and data[name] < 1:
                self.add_error(name, "At least 1.")
        return data


class TickerForm(forms.ModelForm):
    aliases_text = forms.CharField(label="Other names", required=False, help_text="Comma-separated")

    class Meta:
        model = Ticker
        fields = ["symbol", "name", "match_symbol", "on_watchlist"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["aliases_text"].initial = ", ".join(self.instance.aliases)

    def clean_symbol(self) -> str:
        import re

        symbol = self.cleaned_data["symbol"].strip().lstrip("$").upper()
        if not re.match(r"^[A-Z0-9][A-Z0-9.\-]{0,11}$", symbol):
            raise forms.ValidationError("Letters, digits, '.' or '-', at most 12.")
        return symbol

    def save(self, commit: bool = True) -> Ticker:
        ticker = super().save(commit=False)
        ticker.aliases = _lines(self.cleaned_data.get("aliases_text", ""), commas=True)
        if commit:
            ticker.save()
        return ticker


class FeedForm(forms.ModelForm):
    url = forms.URLField(max_length=1000, assume_scheme="https", label="Feed URL")

    class Meta:
        model = Feed
        fields = ["name", "url", "poll_interval_s", "is_active"]
        labels = {"poll_interval_s": "Poll every (seconds)", "is_active": "Poll this feed"}
        help_texts = {"is_active": "Untick to pause it: a paused feed is not fetched until it is ticked again."}

    def clean_poll_interval_s(self) -> int:
        value = self.cleaned_data["poll_interval_s"]
        if value < 60:
            raise forms.ValidationError("At least 60 seconds: be kind to the publisher.")
        return value


def _check_upload_size(form: forms.Form, upload) -> None:
    """Refuse a file over FINANCE_MAX_UPLOAD_BYTES before reading it; the view answers 413."""
    limit = settings.FINANCE_MAX_UPLOAD_BYTES
    if upload.size > limit:
        form.too_large = True
        raise forms.ValidationError(
            f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes (FINANCE_MAX_UPLOAD_BYTES).")


class UploadForm(forms.Form):
    file = forms.FileField(help_text="A CSV file with a header row, or JSON Lines; its fields are listed under Format")
    source = forms.CharField(required=False, max_length=200, help_text="Source of rows that name none")
    backfill = forms.BooleanField(required=False, label="History back-fill: do not raise alerts")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        _check_upload_size(self, upload)
        name = upload.name.lower()
        if not name.endswith((".csv", ".jsonl", ".ndjson", ".json")):
            raise forms.ValidationError("Upload a .csv or .jsonl file.")
        return upload


class LabelledSetForm(forms.Form):
    file = forms.FileField(help_text="Financial PhraseBank .txt (sentence@label, UTF-8 or Latin-1), or .csv / .jsonl with "
                                     "text and label")
    name = forms.CharField(required=False, max_length=200)
    role = forms.ChoiceField(choices=LabelledSet.Role.choices, initial=LabelledSet.Role.TRAIN, required=False,
                             help_text="Evaluation-only sets decide whether a new version replaces the active one")
    label_map = forms.CharField(required=False, max_length=500,
                                help_text="Rename labels, e.g. 0=negative,1=positive,2=neutral")

    def clean_role(self) -> str:
        return self.cleaned_data["role"] or LabelledSet.Role.TRAIN

    def clean_file(self):
        upload = self.cleaned_data["file"]
        _check_upload_size(self, upload)
        return upload


class DocumentLabelForm(forms.Form):
    label = forms.ChoiceField(choices=[("", "—")] + [(x, x) for x in SENTIMENT_LABELS], required=False,
                              label="Sentiment")
    topic = forms.ChoiceField(required=False, label="Topic")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "—"), ("none", "None of the topics")] + [
            (str(t.pk), t.name) for t in Topic.objects.filter(is_active=True)]


class TrainForm(forms.Form):
    method = forms.ChoiceField(choices=[("full", "Full fine-tuning"), ("lora", "LoRA adapters"),
                                        ("head", "Head on frozen embeddings (fast)")], initial="full")
    # The recipe's epochs (the best of them is kept), unless the admin asks for more.
    epochs = forms.IntegerField(min_value=1, max_value=50, initial=SENTIMENT_DEFAULT_CONFIG["epochs"])
    # Shown only when the large teacher encoder is installed (`make models-large`): the method and
    # epochs then train the teacher, which the MiniLM student learns from (issue 20).
    distil = forms.BooleanField(required=False, label="Distil from a stronger teacher")


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. 'newsroom importer'")
