"""TrendBucket.negative_expected: the sum of the documents' p(negative) per bucket (issue 21),
filled in for the documents scored before it existed."""
from collections import defaultdict

from django.db import migrations, models

GRANULARITIES = ("hour", "day")


def fill_expected_negatives(apps, schema_editor):
    from ml_core.timeseries import bucket_start

    Document = apps.get_model("finance_sentiment", "Document")
    DocumentTopic = apps.get_model("finance_sentiment", "DocumentTopic")
    DocumentTicker = apps.get_model("finance_sentiment", "DocumentTicker")
    TrendBucket = apps.get_model("finance_sentiment", "TrendBucket")
    series = defaultdict(lambda: ["all"])
    for document_id, topic_id in DocumentTopic.objects.values_list("document_id", "topic_id").iterator():
        series[document_id].append(f"topic:{topic_id}")
    for document_id, ticker_id in DocumentTicker.objects.values_list("document_id", "ticker_id").iterator():
        series[document_id].append(f"ticker:{ticker_id}")
    sums = defaultdict(float)
    scored = Document.objects.filter(status="scored", p_negative__isnull=False)
    for document_id, published_at, p_negative in scored.values_list("pk", "published_at", "p_negative").iterator():
        for granularity in GRANULARITIES:
            start = bucket_start(published_at, granularity)
            for name in series[document_id]:
                sums[(name, granularity, start)] += p_negative
    for (name, granularity, start), total in sums.items():
        TrendBucket.objects.filter(series=name, granularity=granularity, start=start).update(negative_expected=total)


class Migration(migrations.Migration):

    dependencies = [
        ('finance_sentiment', '0005_outbound_url_validators'),
    ]

    operations = [
        migrations.AddField(
            model_name='trendbucket',
            name='negative_expected',
            field=models.FloatField(default=0.0),
        ),
        migrations.RunPython(fill_expected_negatives, migrations.RunPython.noop),
    ]
