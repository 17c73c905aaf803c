"""The one place that turns refusals into what a person sees (apps/core/user_errors.py): the
status and message of each kind, the tuple views catch, the flash message, and the pages that
use it answering as before (a damaged model's explanation 503, a missing version 404)."""
import uuid

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import ValidationError
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from apps.core.models import Job
from apps.core.services.model_files import ModelFilesError
from apps.core.services.registry import BuiltArtifact, RegistryError, model_version_create
from apps.core.user_errors import USER_ERRORS, flash_refusal, or_404, refusal, refusals
from ml_core.data import DataError
from ml_core.errors import UserError


def test_damaged_model_files_are_unavailable_whatever_the_page_uses_for_refusals():
    found = refusal(ModelFilesError("v3's weights do not match their sha256"), status=409)
    assert (found.message, found.status, found.unavailable) == ("v3's weights do not match their sha256", 503, True)


def test_other_refusals_keep_their_message_with_the_page_status():
    assert refusal(DataError("row 4: no label")).status == 400
    assert refusal(DataError("row 4: no label")).message == "row 4: no label"
    assert refusal(UserError("no active model"), status=409).status == 409
    assert refusal(RegistryError("already active")).unavailable is False


def test_a_validation_error_names_its_fields_in_words():
    exc = ValidationError({"confidence_threshold": ["must be between 0 and 1"], "handoff_labels": ["unknown: x"]})
    assert refusal(exc).message == "confidence threshold must be between 0 and 1; handoff labels unknown: x"
    assert refusal(ValidationError("too old")).message == "too old"


def test_the_tuple_views_catch_holds_ml_core_registry_and_an_apps_own_refusals():
    class KBError(ValueError):
        pass

    for exc in (UserError("a"), DataError("b"), ModelFilesError("c"), RegistryError("d")):
        assert isinstance(exc, USER_ERRORS)
    assert not isinstance(KeyError("x"), USER_ERRORS)  # a bug keeps its traceback
    assert isinstance(KBError("x"), refusals(KBError))
    assert not isinstance(ValueError("x"), refusals(KBError))


def test_flash_refusal_puts_the_message_on_the_next_page():
    request = RequestFactory().post("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    found = flash_refusal(request, DataError("column 'label' missing"), prefix="Not uploaded: ")
    assert found.status == 400
    assert [str(m) for m in get_messages(request)] == ["Not uploaded: column 'label' missing"]


def test_or_404_returns_what_was_found_and_404s_on_none():
    assert or_404(0, "thing") == 0  # found, even if falsy
    with pytest.raises(Http404, match="No such model version"):
        or_404(None, "model version")


# --- through the pages --------------------------------------------------------------------------
def _version():
    def build(folder):
        (folder / "w.txt").write_text("weights")
        return BuiltArtifact(metrics={"accuracy": 0.5})

    return model_version_create(scenario="tests.user_errors", build=build)


@pytest.mark.django_db
def test_pages_of_missing_rows_are_404s(operator_client, admin_client):
    version = _version()
    assert operator_client.get(reverse("model_version_detail", args=[version.pk])).status_code == 200
    assert operator_client.get(reverse("model_version_detail", args=[version.pk + 1000])).status_code == 404
    assert operator_client.get(reverse("model_version_card", args=[version.pk + 1000])).status_code == 404
    assert operator_client.get(reverse("shadow_detail", args=[12345])).status_code == 404
    assert operator_client.get(reverse("job_curves", args=[uuid.uuid4()])).status_code == 404
    assert admin_client.post(reverse("job_cancel", args=[uuid.uuid4()])).status_code == 404
    assert admin_client.post(reverse("model_version_activate", args=[version.pk + 1000])).status_code == 404
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_an_explanation_with_a_version_that_cannot_explain_is_a_400_with_the_reason(operator_client):
    version = _version()  # a toy artifact, no classifier in it: the explainer refuses, not a 500
    response = operator_client.post(reverse("model_version_explain", args=[version.pk]), {"text": "hello"})
    assert response.status_code == 400
    assert "is not a classifier artifact" in response.context["error"]
    empty = operator_client.post(reverse("model_version_explain", args=[version.pk]), {"text": " "})
    assert (empty.status_code, empty.context["error"]) == (400, "Type a text to explain.")
