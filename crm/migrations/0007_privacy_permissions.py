"""Data-protection requests are the Managers' job: they may export everything held about a
customer and erase a customer's personal data (crm.privacy). Nobody else gets either
permission by default; an administrator may grant them to chosen users.

The group is created here if it does not exist yet (interventions 0007 gets or creates it
too), so this migration does not depend on a higher app's."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ("export_customer", "erase_customer")


def grant(apps, schema_editor):
    config = apps.get_app_config("crm")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Managers")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="crm", codename__in=CODENAMES)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Managers").first()
    if group is None:
        return
    group.permissions.remove(
        *Permission.objects.filter(content_type__app_label="crm", codename__in=CODENAMES)
    )
    # Created here if nothing else had made it: remove it when nothing else was given to it.
    Group.objects.filter(name="Managers", permissions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("crm", "0006_erasure")]

    operations = [migrations.RunPython(grant, revoke)]
