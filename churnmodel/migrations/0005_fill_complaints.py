"""Fill CurrentRisk.complaints for the rows already there, so the at-risk list's "complained
about" filter works right after the upgrade (the scorer keeps it from then on). The 90
days are counted up to the migration, not to each row's score: a one-off approximation
the next nightly scoring replaces. Reversing empties the column."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.db.models import F
from django.utils import timezone


def fill(apps, schema_editor):
    CurrentRisk = apps.get_model("churnmodel", "CurrentRisk")
    AspectMention = apps.get_model("sentiment", "AspectMention")
    db = schema_editor.connection.alias
    mentions = (
        AspectMention.objects.using(db)
        .filter(
            label="negative",
            score__analyzer=settings.SENTIMENT_PRIMARY_ANALYZER,
            score__content_hash=F("score__text__content_hash"),
            score__text__written_at__gt=timezone.now() - timedelta(days=90),
        )
        .values_list("score__text__customer_id", "aspect")
        .distinct()
    )
    by_customer = defaultdict(set)
    for customer_id, aspect in mentions.iterator():
        by_customer[customer_id].add(aspect)
    rows = list(CurrentRisk.objects.using(db).filter(customer_id__in=list(by_customer)))
    for row in rows:
        row.complaints = f",{','.join(sorted(by_customer[row.customer_id]))},"
    CurrentRisk.objects.using(db).bulk_update(rows, ["complaints"], batch_size=1000)


def empty(apps, schema_editor):
    CurrentRisk = apps.get_model("churnmodel", "CurrentRisk")
    CurrentRisk.objects.using(schema_editor.connection.alias).update(complaints="")


class Migration(migrations.Migration):
    dependencies = [
        ("churnmodel", "0004_task_ids_complaints_contacts"),
        ("sentiment", "0004_weekly_voice"),
    ]

    operations = [migrations.RunPython(fill, empty)]
