"""Fill CurrentRisk from the score history already there, so the at-risk list is complete
right after the upgrade rather than after the next nightly scoring. Written against the
historical models (the live scorer may change); reversing empties the table, which holds
nothing but copies."""

from datetime import timedelta

from django.db import migrations
from django.db.models import Max, Sum

CHUNK = 5000


def fill(apps, schema_editor):
    ChurnScore = apps.get_model("churnmodel", "ChurnScore")
    CurrentRisk = apps.get_model("churnmodel", "CurrentRisk")
    Order = apps.get_model("crm", "Order")
    db = schema_editor.connection.alias
    customers = list(
        ChurnScore.objects.using(db)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )
    for start in range(0, len(customers), CHUNK):
        ids = customers[start : start + CHUNK]
        newest = dict(
            ChurnScore.objects.using(db)
            .filter(customer_id__in=ids)
            .values("customer_id")
            .annotate(at=Max("scored_at"))
            .values_list("customer_id", "at")
        )
        rows = {}
        for score in ChurnScore.objects.using(db).filter(customer_id__in=ids).order_by("pk"):
            if score.scored_at == newest[score.customer_id]:
                rows[score.customer_id] = score  # the highest pk among the newest wins
        made = []
        for customer_id, score in rows.items():
            at = score.scored_at
            spend = (
                Order.objects.using(db).filter(customer_id=customer_id,
                                               placed_at__gt=at - timedelta(days=365),
                                               placed_at__lte=at)
                .exclude(status="cancelled").aggregate(s=Sum("total"))["s"]
            )  # fmt: skip
            up = [r for r in score.reasons if r.get("direction") == "up"]
            made.append(CurrentRisk(
                customer_id=customer_id, probability=score.probability, band=score.band,
                segment=score.segment, spend_365d=spend or 0, scored_at=at,
                top_reason=str((up or score.reasons or [{}])[0].get("text", ""))[:300],
            ))  # fmt: skip
        CurrentRisk.objects.using(db).bulk_create(made, batch_size=1000)


def empty(apps, schema_editor):
    apps.get_model("churnmodel", "CurrentRisk").objects.using(
        schema_editor.connection.alias
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("churnmodel", "0002_current_risk"), ("crm", "0005_customer_notes")]

    operations = [migrations.RunPython(fill, empty)]
