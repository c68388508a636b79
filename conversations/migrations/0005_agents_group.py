"""The "Agents" group: exactly what the inbox needs (read conversations and messages, reply,
assign, see templates and consent); nothing that edits templates, rules, flows or campaigns."""

from django.db import migrations

AGENT_PERMISSIONS = [
    ("conversations", "view_conversation"),
    ("conversations", "change_conversation"),
    ("conversations", "view_message"),
    ("conversations", "add_message"),
    ("conversations", "view_dlttemplate"),
    ("conversations", "view_optout"),
    ("conversations", "view_consentevent"),
]


def add_agents_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Agents")
    for app_label, codename in AGENT_PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_agents_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Agents").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("conversations", "0004_inbound_defaults"),
    ]

    operations = [migrations.RunPython(add_agents_group, remove_agents_group)]
