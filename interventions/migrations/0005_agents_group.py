"""The "Agents" group works the call queue (view the calls and their interventions, claim
a call, log its outcome); "Marketing" also reads interventions, their coupons, emails and
skips, and updates gift fulfilment. Approving costly interventions stays a separate
permission (approve_intervention) that an administrator grants to chosen users."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Agents": ("view_calltask", "change_calltask", "view_intervention"),
    "Marketing": ("view_intervention", "view_historicalintervention", "view_coupon",
                  "view_email", "view_skip", "view_calltask", "view_giftfulfilment",
                  "change_giftfulfilment"),  # fmt: skip
}


def grant(apps, schema_editor):
    config = apps.get_app_config("interventions")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="interventions", codename__in=codenames
            )
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="interventions", codename__in=codenames
                )
            )
    # The Agents group is this migration's; remove it when nothing else was given to it.
    Group.objects.filter(name="Agents", permissions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("interventions", "0004_actions_outcomes_ledger")]

    operations = [migrations.RunPython(grant, revoke)]
