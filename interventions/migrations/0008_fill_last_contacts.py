"""Copy each customer's newest contact (a treatment, not failed or rejected) onto their
CurrentRisk row, for the rows already there; interventions.services.last_contact_sync
keeps it from then on. Reversing empties the column."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill(apps, schema_editor):
    CurrentRisk = apps.get_model("churnmodel", "CurrentRisk")
    Intervention = apps.get_model("interventions", "Intervention")
    db = schema_editor.connection.alias
    newest = (
        Intervention.objects.using(db)
        .filter(customer=OuterRef("customer"), group="treated")
        .exclude(status__in=("failed", "rejected"))
        .order_by("-decided_at")
        .values("decided_at")[:1]
    )
    CurrentRisk.objects.using(db).update(last_contact_at=Subquery(newest))


def empty(apps, schema_editor):
    CurrentRisk = apps.get_model("churnmodel", "CurrentRisk")
    CurrentRisk.objects.using(schema_editor.connection.alias).update(last_contact_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("interventions", "0007_roles"),
        ("churnmodel", "0004_task_ids_complaints_contacts"),
    ]

    operations = [migrations.RunPython(fill, empty)]
