# Step 3 of 3: drop finance's own key table; the core foreign key takes the old field's name.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('finance_sentiment', '0003_copy_api_keys_to_core'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='ingestbatch',
            name='api_key',
        ),
        migrations.DeleteModel(
            name='ApiKey',
        ),
        migrations.RenameField(
            model_name='ingestbatch',
            old_name='api_key_core',
            new_name='api_key',
        ),
    ]
