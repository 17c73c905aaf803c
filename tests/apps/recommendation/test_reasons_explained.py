"""Why a recommendation: the history items that drove it add up to the models' own scores, and
the words of the item's text that matched the user's profile are highlighted, on demand."""
import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.recommendation import selectors, serving
from ml_core.trust.recommendation import history_contributions

pytestmark = pytest.mark.django_db


def test_history_contributions_add_up_to_the_model_scores(trained):
    served = serving._active_model(serving._refresh_catalogue())
    recommender = served.recommender
    history = selectors.user_history(user=selectors.user_get(external_id="user-3"))
    item = serving.recommendations_for_user(external_id="user-3", k=1)["items"][0]["item"]
    found = history_contributions(recommender, history, item, top=50)
    _, batch = recommender._history(history)
    target = recommender.index_of[item]
    content = recommender.content.score(batch)[0, target]
    assert found["content_score"] == pytest.approx(content, abs=1e-5)
    assert sum(c["content"] for c in found["contributions"]) == pytest.approx(content, abs=1e-5)
    knn = recommender.knn.score(batch)[0, target]
    assert found["behaviour_score"] == pytest.approx(knn, abs=1e-5)
    assert {c["item"] for c in found["contributions"]} == {e.item_id for e in history}
    shares = [c["behaviour_share"] for c in found["contributions"] if c["behaviour_share"] is not None]
    assert not shares or sum(shares) == pytest.approx(1.0)
    assert np.linalg.norm(found["profile"]) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(KeyError):
        history_contributions(recommender, history, "no-such-item")


def test_why_is_shown_on_demand_to_operators(trained, operator_client, outsider_client):
    cache.clear()
    page = operator_client.get(reverse("recommendation:user_detail", args=["user-3"])).content.decode()
    assert "Why?" in page
    item = serving.recommendations_for_user(external_id="user-3", k=1)["items"][0]["item"]
    url = reverse("recommendation:recommendation_why", args=["user-3", item])
    response = operator_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and "From the history" in body
    history_titles = {e.item.title for e in selectors.user_history_rows(user=selectors.user_get(external_id="user-3"))}
    assert any(title in body for title in history_titles)
    assert body.count('<mark class="xai-') >= 5  # the item's words, highlighted
    assert "taste profile" in body
    assert outsider_client.get(url).status_code == 403
    assert operator_client.get(reverse("recommendation:recommendation_why", args=["user-3", "nope"])).status_code == 404
