# Step 2 of 3: copy finance's keys (their hashes: the plain keys were never stored) into core with
# the "finance" scope, and point each batch at the copy. Keys already working keep working.

from django.db import migrations

FINANCE = "finance"
COPIED_FIELDS = ("name", "prefix", "key_hash", "created_by_id", "last_used_at", "revoked_at")


def copy_to_core(apps, schema_editor):
    db = schema_editor.connection.alias
    FinanceKey = apps.get_model("finance_sentiment", "ApiKey")
    CoreKey = apps.get_model("core", "ApiKey")
    IngestBatch = apps.get_model("finance_sentiment", "IngestBatch")
    for old in FinanceKey.objects.using(db).order_by("pk"):
        new = CoreKey.objects.using(db).filter(key_hash=old.key_hash).first()
        if new is None:
            new = CoreKey.objects.using(db).create(scopes=[FINANCE],
                                                   **{f: getattr(old, f) for f in COPIED_FIELDS})
        elif FINANCE not in (new.scopes or []):
            new.scopes = [*(new.scopes or []), FINANCE]
            new.save(update_fields=["scopes"])
        # created_at is auto_now_add: set after the insert to keep the original date.
        CoreKey.objects.using(db).filter(pk=new.pk).update(created_at=old.created_at)
        IngestBatch.objects.using(db).filter(api_key_id=old.pk).update(api_key_core_id=new.pk)


def copy_back(apps, schema_editor):
    db = schema_editor.connection.alias
    FinanceKey = apps.get_model("finance_sentiment", "ApiKey")
    CoreKey = apps.get_model("core", "ApiKey")
    IngestBatch = apps.get_model("finance_sentiment", "IngestBatch")
    for new in CoreKey.objects.using(db).order_by("pk"):
        if FINANCE not in (new.scopes or []):
            continue
        old = FinanceKey.objects.using(db).filter(key_hash=new.key_hash).first()
        if old is None:
            old = FinanceKey.objects.using(db).create(**{f: getattr(new, f) for f in COPIED_FIELDS})
        FinanceKey.objects.using(db).filter(pk=old.pk).update(created_at=new.created_at)
        IngestBatch.objects.using(db).filter(api_key_core_id=new.pk).update(api_key_id=old.pk)


class Migration(migrations.Migration):

    dependencies = [
        ('finance_sentiment', '0002_ingestbatch_api_key_core'),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
    ]
