"""The web UI's roles: Agents, Marketing and Managers, with the permissions each needs.

Agents work customers: read them and their records, assign tickets, keep notes, correct a
text's sentiment label, work the call queue and start a manual intervention. Marketing
configures rules and reads results, the voice of the customer and the churn model; it
does not log calls or correct labels. Managers may do both and approve costly
interventions. The web UI checks these permissions on the server, on every page and
action."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ_CUSTOMERS = [
    ("crm", "view_customer"), ("crm", "view_order"), ("crm", "view_review"),
    ("crm", "view_ticket"), ("crm", "view_ticketmessage"), ("crm", "view_customernote"),
    ("sentiment", "view_sentimentscore"), ("churnmodel", "view_churnscore"),
    ("interventions", "view_intervention"),
]  # fmt: skip
AGENTS = READ_CUSTOMERS + [
    ("crm", "change_ticket"), ("crm", "add_customernote"),
    ("sentiment", "add_labeloverride"), ("sentiment", "view_labeloverride"),
    ("interventions", "view_calltask"), ("interventions", "change_calltask"),
    ("interventions", "start_manual_intervention"),
]  # fmt: skip
MARKETING = READ_CUSTOMERS + [
    ("interventions", "view_rule"), ("interventions", "add_rule"),
    ("interventions", "change_rule"), ("interventions", "view_historicalrule"),
    ("interventions", "view_results"), ("sentiment", "view_voice"),
    ("churnmodel", "view_modelversion"), ("churnmodel", "view_scoringrun"),
    ("interventions", "view_historicalintervention"), ("interventions", "view_coupon"),
    ("interventions", "view_email"), ("interventions", "view_skip"),
    ("interventions", "view_giftfulfilment"), ("interventions", "change_giftfulfilment"),
]  # fmt: skip
MANAGERS = sorted(set(AGENTS) | set(MARKETING) | {("interventions", "approve_intervention")})
ROLES = {"Agents": AGENTS, "Marketing": MARKETING, "Managers": MANAGERS}


def grant(apps, schema_editor):
    for label in ("crm", "sentiment", "churnmodel", "interventions"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


# What the groups had before this migration (0002, 0005): kept when it is reversed.
EARLIER = {
    "Agents": {"view_calltask", "change_calltask", "view_intervention"},
    "Marketing": {"view_rule", "add_rule", "change_rule", "view_historicalrule",
                  "view_intervention", "view_historicalintervention", "view_coupon",
                  "view_email", "view_skip", "view_calltask", "view_giftfulfilment",
                  "change_giftfulfilment"},
}  # fmt: skip


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.filter(name="Managers").delete()
    for name in ("Agents", "Marketing"):
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codename in ROLES[name]:
            if codename not in EARLIER[name]:
                group.permissions.remove(
                    *Permission.objects.filter(
                        content_type__app_label=app_label, codename=codename
                    )
                )


class Migration(migrations.Migration):
    dependencies = [
        ("interventions", "0006_ui_permissions"),
        ("crm", "0005_customer_notes"),
        ("sentiment", "0003_voice_permission"),
        ("churnmodel", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
