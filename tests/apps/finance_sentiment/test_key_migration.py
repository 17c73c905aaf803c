"""The migrations that move finance's API keys to core: keys keep their hashes (so the keys that
systems already hold keep working), get the finance scope, and batches keep pointing at them;
going back restores finance's own table."""
import hashlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.models import ApiKey
from apps.core.services.api_keys import api_key_authenticate
from apps.finance_sentiment.models import IngestBatch

BEFORE = ("finance_sentiment", "0001_initial")
OLD_DATE = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _migrate(*targets, state_at=()):
    """Migrate to the targets; returns the historical apps there (and at `state_at`)."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets))
    executor.loader.build_graph()
    return executor.loader.project_state([*targets, *state_at]).apps


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_finance_keys_move_to_core_and_back_with_their_hashes_and_batches():
    old_apps = _migrate(BEFORE, state_at=[("core", "0005_api_key")])  # only finance goes back
    FinanceKey = old_apps.get_model("finance_sentiment", "ApiKey")
    OldBatch = old_apps.get_model("finance_sentiment", "IngestBatch")
    OldCoreKey = old_apps.get_model("core", "ApiKey")
    active_plain, revoked_plain, shared_plain = "fin_active-secret-0123456789", "fin_revoked-0123456789", "fin_shared-01"
    active = FinanceKey.objects.create(name="newsroom", prefix=active_plain[:10], key_hash=_digest(active_plain),
                                       last_used_at=OLD_DATE)
    FinanceKey.objects.filter(pk=active.pk).update(created_at=OLD_DATE)
    FinanceKey.objects.create(name="old feed", prefix=revoked_plain[:10], key_hash=_digest(revoked_plain),
                              revoked_at=OLD_DATE)
    shared = FinanceKey.objects.create(name="both", prefix=shared_plain[:10], key_hash=_digest(shared_plain))
    # A core key with the same hash already exists (a rerun, or made by hand): it gains the scope.
    OldCoreKey.objects.create(name="both", prefix=shared_plain[:10], key_hash=shared.key_hash,
                              scopes=["recommendation"])
    with_key = OldBatch.objects.create(origin="api", label="newsroom", api_key=active)
    with_shared = OldBatch.objects.create(origin="api", label="both", api_key=shared)
    without_key = OldBatch.objects.create(origin="upload", label="file.csv")

    try:
        _migrate(*_leaves())
        moved = {k.name: k for k in ApiKey.objects.all()}
        assert set(moved) == {"newsroom", "old feed", "both"}
        assert moved["newsroom"].scopes == ["finance"] and moved["newsroom"].key_hash == _digest(active_plain)
        assert moved["newsroom"].created_at == OLD_DATE and moved["newsroom"].last_used_at == OLD_DATE
        assert moved["old feed"].revoked_at == OLD_DATE
        assert moved["both"].scopes == ["recommendation", "finance"]
        assert IngestBatch.objects.get(pk=with_key.pk).api_key == moved["newsroom"]
        assert IngestBatch.objects.get(pk=with_shared.pk).api_key == moved["both"]
        assert IngestBatch.objects.get(pk=without_key.pk).api_key is None
        # The key a system already holds still authenticates; the revoked one still does not.
        assert api_key_authenticate(plain=active_plain).key == moved["newsroom"]
        assert api_key_authenticate(plain=revoked_plain).problem == "this API key was revoked"

        back_apps = _migrate(BEFORE)
        restored = {k.name: k for k in back_apps.get_model("finance_sentiment", "ApiKey").objects.all()}
        assert set(restored) == {"newsroom", "old feed", "both"}
        assert restored["newsroom"].key_hash == _digest(active_plain)
        batches = back_apps.get_model("finance_sentiment", "IngestBatch").objects
        assert batches.get(pk=with_key.pk).api_key_id == restored["newsroom"].pk
        assert batches.get(pk=without_key.pk).api_key_id is None
    finally:
        _migrate(*_leaves())  # the schema the other tests expect
