"""Each Celery worker's last heartbeat, by hostname, with the queues it consumes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    replaces = [("workers", "0001_i10_worker_heartbeats")]

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="WorkerHeartbeat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hostname", models.CharField(max_length=255, unique=True)),
                ("queues", models.CharField(blank=True, max_length=255)),
                ("seen_at", models.DateTimeField()),
            ],
            options={
                "ordering": ["-seen_at"],
            },
        ),
    ]
