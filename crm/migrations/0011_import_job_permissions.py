"""Marketing and Managers upload shops' CSV exports in the admin and read the imports'
reports (add and view CSV imports). Agents do neither. Nobody may change or delete an
import: it is the record of what was loaded, by whom.

The groups are created here if they do not exist yet (interventions 0002 and 0007 get or
create them too), so this migration does not depend on a higher app's."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ("Marketing", "Managers")
CODENAMES = ("add_importjob", "view_importjob")


def grant(apps, schema_editor):
    config = apps.get_app_config("crm")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.filter(content_type__app_label="crm", codename__in=CODENAMES)
    )
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="crm", codename__in=CODENAMES)
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*permissions)
    # Created here if nothing else had made them: removed when nothing else was given to them.
    Group.objects.filter(name__in=GROUPS, permissions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("crm", "0010_import_job")]

    operations = [migrations.RunPython(grant, revoke)]
