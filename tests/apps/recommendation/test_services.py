"""Imports, embeddings, training and activation, new items served from their text."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import Job, ModelVersion
from apps.recommendation import services, serving
from apps.recommendation.models import EndUser, Interaction, Item
from ml_core.recsys.data import RecsysDataError
from tests.ml_core.recsys.movielens_files import RATINGS, write_movielens

from .conftest import TRAINING_PARAMS

pytestmark = pytest.mark.django_db


def test_import_movielens_stores_films_users_and_ratings_once(tmp_path):
    out = StringIO()
    call_command("import_movielens", str(write_movielens(tmp_path)), stdout=out)
    assert "Imported 5 films, 3 users and 9 ratings (9 new)" in out.getvalue()
    film = Item.objects.get(external_id="4")
    assert film.title == "Orbit of Glass (1996)" and film.description == "Genres: Drama, Sci-Fi."
    assert sorted(film.categories.values_list("name", flat=True)) == ["Drama", "Sci-Fi"]
    assert film.attributes["year"] == 1996
    assert EndUser.objects.get(external_id="2").attributes["occupation"] == "writer"
    rating = Interaction.objects.get(user__external_id="1", item__external_id="2")
    assert (rating.kind, rating.value) == ("rating", 5.0)
    assert Job.objects.filter(kind="recommendation.embed_items").exists()
    summary = services.movielens_import(folder=tmp_path)
    assert summary.new_interactions == 0 and Interaction.objects.count() == len(RATINGS)


def test_a_malformed_movielens_file_names_the_line_and_stores_nothing(tmp_path):
    lines = ["1\t1\t4\t880000000", "2\t3\t5\t880000060", "3\t2\t6\t880000120"]
    folder = write_movielens(tmp_path, data_lines=lines)
    with pytest.raises(RecsysDataError, match=r"u\.data line 3: rating 6 must be between 1 and 5"):
        services.movielens_import(folder=folder)
    with pytest.raises(CommandError, match=r"u\.data line 3: .*Nothing was imported"):
        call_command("import_movielens", str(folder), stdout=StringIO())
    assert not Item.objects.exists() and not EndUser.objects.exists() and not Interaction.objects.exists()


def test_jsonl_import_is_all_or_nothing(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "a", "title": "A"}) + "\n\n" + json.dumps({"id": "b"}) + "\n")
    with pytest.raises(CommandError, match=r"items.jsonl line 3: title: required"):
        call_command("import_recommendation_data", "--items", str(items), stdout=StringIO())
    assert not Item.objects.exists()


def test_changing_an_items_text_drops_its_embedding(shop, tiny_backbone):
    assert services.items_embed() == 24
    assert services.items_embed() == 0
    same_text = {"id": "crime-0", "title": "The detective (crime)", "categories": ["Crime"],
                 "description": "A crime story about a detective."}
    assert services.items_upsert(items=[{**same_text, "attributes": {"pages": 300}}]).updated == 1
    assert Item.objects.get(external_id="crime-0").embedding is not None  # only an attribute changed
    services.items_upsert(items=[{**same_text, "description": "A crime story about a tired detective."}])
    assert Item.objects.get(external_id="crime-0").embedding is None
    assert services.items_embed() == 1


def test_training_registers_evaluates_and_activates_a_version(trained):
    assert trained.is_active and trained.scenario == services.SCENARIO
    models = trained.metrics["models"]
    assert set(models) == {"popularity", "item_knn", "als", "content", "hybrid"}
    assert 0 <= trained.metrics["ndcg@10"] <= 1 and trained.metrics["train_s"] > 0
    assert sum(trained.metrics["weights"].values()) == pytest.approx(1, abs=1e-3)
    assert trained.training_data_summary["interactions"] == 24 * 6


def test_if_better_keeps_the_active_version_when_the_new_one_scores_lower(trained):
    ModelVersion.objects.filter(pk=trained.pk).update(metrics={**trained.metrics, "ndcg@10": 1.0})
    version, message = services.recommender_train(params={**TRAINING_PARAMS, "activate": "if_better"})
    assert not version.is_active and "not activated" in message
    assert ModelVersion.objects.get(is_active=True, scenario=services.SCENARIO).pk == trained.pk
    with pytest.raises(Exception, match="activate must be one of"):
        services.recommender_train(params={"activate": "sometimes"})


def test_training_with_no_interactions_says_so(db, tiny_backbone):
    with pytest.raises(Exception, match="no interactions to learn from"):
        services.recommender_train(params=TRAINING_PARAMS)


def test_a_new_item_is_served_from_its_text_before_anyone_touched_it(trained):
    # Same text as space-0, so the (tiny, random) encoder gives it the same vector.
    services.items_upsert(items=[{"id": "space-0-reissue", "title": "The rocket (space)",
                                  "description": "A space story about a rocket.", "categories": ["Space"]}],
                          start_embedding=False)
    assert services.items_embed() == 1
    services.interactions_record(events=[{"user": "fresh", "item": "space-0", "kind": "like"}])
    result = serving.recommendations_for_user(external_id="fresh", k=3)
    assert result["strategy"] == "content"
    assert result["items"][0]["item"] == "space-0-reissue"
    assert result["items"][0]["reason"] == "Because you liked “The rocket (space)”"
    similar = serving.similar_items_for(external_id="space-0-reissue", k=3)
    assert len(similar["items"]) == 3


def test_nightly_task_and_scenario_queue_a_training_job(shop, settings):  # a start needs interactions
    from apps.core.scenarios import get_scenario
    from apps.recommendation.tasks import nightly_retrain

    entry = settings.CELERY_BEAT_SCHEDULE["recommendation.nightly_retrain"]
    assert entry["task"] == nightly_retrain.name
    job = Job.objects.get(pk=nightly_retrain())
    assert job.kind == "recommendation.train_recommender" and job.params == {"activate": "if_better"}
    assert get_scenario(services.SCENARIO).retrain(created_by=None, params={}).state == Job.State.QUEUED


def test_demo_content_is_ours_idempotent_and_queues_the_first_training(db):
    from apps.recommendation.demo import seed_demo_content

    out = StringIO()
    seed_demo_content(stdout=out)
    assert Item.objects.count() == 32 and EndUser.objects.filter(external_id__startswith="demo-").count() == 80
    assert Interaction.objects.count() > 80
    assert Job.objects.filter(kind="recommendation.train_recommender").count() == 1
    events = Interaction.objects.count()
    seed_demo_content(stdout=StringIO())
    assert Interaction.objects.count() == events
    assert Job.objects.filter(kind="recommendation.train_recommender").count() == 1
