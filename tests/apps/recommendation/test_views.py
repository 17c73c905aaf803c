"""Dashboard pages: what operators see, what only admins may do, what outsiders never see."""
import pytest
from django.urls import reverse

from apps.core.models import Job

pytestmark = pytest.mark.django_db


def test_dashboard_pages_with_a_trained_model(operator_client, trained):
    index = operator_client.get(reverse("recommendation:index")).content.decode()
    assert 'id="rec-models-chart"' in index and 'id="rec-versions-chart"' in index
    assert "Item-kNN" in index and "Hybrid" in index and "Retrain now" not in index  # operators do not retrain
    user = operator_client.get(reverse("recommendation:user_detail", args=["user-3"])).content.decode()
    assert "History" in user and "Because you " in user and "strategy-hybrid" in user
    item = operator_client.get(reverse("recommendation:item_detail", args=["cooking-2"]) + "?k=4").content.decode()
    assert "Similar items" in item and item.count('class="reason"') == 4
    version = operator_client.get(reverse("recommendation:version_detail", args=[trained.pk])).content.decode()
    assert 'id="rec-weights-chart"' in version and "Models on the held-out split" in version
    registry = operator_client.get(reverse("registry")).content.decode()
    assert reverse("recommendation:version_detail", args=[trained.pk]) in registry
    for name in ("user_list", "item_list"):
        assert operator_client.get(reverse(f"recommendation:{name}") + "?q=1").status_code == 200


def test_dashboard_before_any_model(operator_client, shop):
    page = operator_client.get(reverse("recommendation:index")).content.decode()
    assert "No recommender has been trained yet" in page
    item = operator_client.get(reverse("recommendation:item_detail", args=["crime-1"])).content.decode()
    assert "no recommender is trained yet" in item
    assert operator_client.get(reverse("recommendation:user_detail", args=["nobody"])).status_code == 404


def test_only_admins_retrain_and_outsiders_see_nothing(operator_client, admin_client, outsider_client, shop):
    url = reverse("recommendation:retrain")
    assert operator_client.post(url).status_code == 403
    response = admin_client.post(url)
    job = Job.objects.get(kind="recommendation.train_recommender")
    assert response.status_code == 302 and response.url == reverse("job_detail", args=[job.pk])
    assert admin_client.post(url).url == reverse("job_detail", args=[job.pk])  # one at a time
    assert "Retrain now" in admin_client.get(reverse("recommendation:index")).content.decode()
    for name, args in (("index", []), ("user_list", []), ("item_list", []), ("user_detail", ["user-1"]),
                       ("item_detail", ["crime-1"])):
        assert outsider_client.get(reverse(f"recommendation:{name}", args=args)).status_code == 403
