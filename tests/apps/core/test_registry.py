"""Model versions: atomic writes, atomic activation, rollback, and the serving cache."""
import json
import shutil
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction

from apps.core.models import ModelVersion
from apps.core.services.registry import (
    ActiveModelCache,
    BuiltArtifact,
    RegistryError,
    artifact_dir,
    model_version_activate,
    model_version_create,
    model_version_rollback,
)

pytestmark = pytest.mark.django_db
SCENARIO = "tests.echo"


def _writer(payload: str, metrics=None):
    def build(folder: Path) -> BuiltArtifact:
        (folder / "model.json").write_text(json.dumps({"payload": payload}))
        return BuiltArtifact(metrics=metrics or {"accuracy": 0.9}, base_model="tiny",
                             training_data_summary={"rows": 10})

    return build


def _load(folder: Path, version) -> str:
    return json.loads((folder / "model.json").read_text())["payload"]


def test_versions_are_numbered_and_written_completely():
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    v2 = model_version_create(scenario=SCENARIO, build=_writer("two"))
    assert (v1.version, v2.version) == (1, 2)
    assert not v1.is_active and len(v1.sha256) == 64
    assert (artifact_dir(v2) / "MANIFEST.json").is_file()
    assert v2.metrics == {"accuracy": 0.9} and v2.training_data_summary == {"rows": 10}


def test_a_failing_build_registers_nothing_and_leaves_no_folder(settings):
    def build(folder):
        (folder / "model.json").write_text("{half")
        raise MemoryError("out of memory while saving")

    with pytest.raises(MemoryError):
        model_version_create(scenario=SCENARIO, build=build)
    assert not ModelVersion.objects.filter(scenario=SCENARIO).exists()
    scenario_dir = Path(settings.ARTIFACTS_ROOT) / SCENARIO
    assert not scenario_dir.exists() or list(scenario_dir.iterdir()) == []


def test_exactly_one_active_version_and_rollback():
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    v2 = model_version_create(scenario=SCENARIO, build=_writer("two"))
    model_version_activate(version=v1)
    model_version_activate(version=v2)
    assert list(ModelVersion.objects.filter(scenario=SCENARIO, is_active=True)) == [v2]
    assert model_version_rollback(scenario=SCENARIO) == v1
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.is_active and not v2.is_active
    with pytest.raises(RegistryError, match="oldest version"):
        model_version_rollback(scenario=SCENARIO)


def test_the_database_refuses_two_active_versions():
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    v2 = model_version_create(scenario=SCENARIO, build=_writer("two"))
    model_version_activate(version=v1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(is_active=True)


def test_half_written_or_altered_artifacts_are_never_activated():
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    v2 = model_version_create(scenario=SCENARIO, build=_writer("two"))
    model_version_activate(version=v1)

    (artifact_dir(v2) / "MANIFEST.json").unlink()  # as if the write had stopped half-way
    with pytest.raises(RegistryError, match="never completed"):
        model_version_activate(version=v2)

    v3 = model_version_create(scenario=SCENARIO, build=_writer("three"))
    (artifact_dir(v3) / "model.json").write_text('{"payload": "tampered"}')
    with pytest.raises(RegistryError, match="does not match"):
        model_version_activate(version=v3)

    v4 = model_version_create(scenario=SCENARIO, build=_writer("four"))
    shutil.rmtree(artifact_dir(v4))
    with pytest.raises(RegistryError, match="does not exist"):
        model_version_activate(version=v4)

    assert ModelVersion.objects.get(scenario=SCENARIO, is_active=True) == v1


def test_cache_reloads_when_the_active_version_changes_and_keeps_serving_on_a_broken_one():
    cache = ActiveModelCache(SCENARIO, _load, check_interval_s=0)
    assert cache.get() is None
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    model_version_activate(version=v1)
    assert cache.get().model == "one"

    v2 = model_version_create(scenario=SCENARIO, build=_writer("two"))
    model_version_activate(version=v2)
    loaded = cache.get()
    assert (loaded.model, loaded.version) == ("two", 2)

    v3 = model_version_create(scenario=SCENARIO, build=_writer("three"))
    model_version_activate(version=v3)
    (artifact_dir(v3) / "model.json").write_text("garbage")  # corrupted after activation
    assert cache.get().model == "two"
    assert "v3 could not be loaded" in cache.last_error and "does not match" in cache.last_error

    model_version_activate(version=v1)  # operator rolls back: recovers without a restart
    assert cache.get().model == "one" and cache.last_error == ""


def test_cache_asks_the_database_at_most_once_per_interval(django_assert_num_queries):
    v1 = model_version_create(scenario=SCENARIO, build=_writer("one"))
    model_version_activate(version=v1)
    cache = ActiveModelCache(SCENARIO, _load, check_interval_s=60)
    cache.get()
    with django_assert_num_queries(0):
        for _ in range(100):
            assert cache.get().model == "one"


def test_a_scenario_hears_of_an_activation_after_commit_and_its_failure_does_not_undo_it(
        django_capture_on_commit_callbacks, caplog):
    from apps.core.scenarios import Scenario, register_scenario, unregister_scenario

    heard = []

    def on_activated(version):
        heard.append(version.version)
        raise RuntimeError("the follow-up broke")

    register_scenario(Scenario(key="tests.hooked", label="Hooked", on_activated=on_activated))
    try:
        version = model_version_create(scenario="tests.hooked", build=_writer("one"))
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            model_version_activate(version=version)
            assert heard == []  # not before the activation is committed
        assert len(callbacks) == 1 and heard == [1]
        version.refresh_from_db()
        assert version.is_active
        assert "follow-up failed" in caplog.text and "the follow-up broke" in caplog.text
    finally:
        unregister_scenario("tests.hooked")
