# API keys move to core (shared by finance and recommendation). Step 1 of 3: a second foreign key
# on IngestBatch, to the core model. Each step is its own migration, so on PostgreSQL no table is
# altered in the transaction that updates its rows ("pending trigger events").

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0005_api_key'),
        ('finance_sentiment', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='ingestbatch',
            name='api_key_core',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                    related_name='ingest_batches', to='core.apikey'),
        ),
    ]
