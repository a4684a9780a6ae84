"""An invitation names an address and a role, not an account made in advance.

The data steps stay (unlike in the squashed migrations before this one): a database that has
everything up to this step but not this one holds real invitations, and takes this migration,
not the replaced one. On a new database they find nothing to do.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Accounts that an invitation made in advance and nobody ever used: they go, so the people
# invited can take the address as their username when they accept.
_PLACEHOLDERS: set[int] = set()


def address_and_role(apps: Any, schema_editor: Any) -> None:
    """Copy each invitation's address and role from its account; note unused placeholders."""
    Invitation = apps.get_model("annotate", "Invitation")
    Membership = apps.get_model("annotate", "Membership")
    Assignment = apps.get_model("annotate", "Assignment")
    Judgement = apps.get_model("annotate", "Judgement")
    for invitation in Invitation.objects.select_related("user"):
        user = invitation.user
        unused = (
            invitation.used_at is None
            and user.password.startswith("!")
            and not (user.is_staff or user.is_superuser)
            and not Assignment.objects.filter(annotator=user).exists()
            and not Judgement.objects.filter(annotator=user).exists()
        )
        if unused:
            _PLACEHOLDERS.add(user.pk)
        invitation.email = (user.email or user.username).lower()[:254]
        membership = Membership.objects.filter(project_id=invitation.project_id, user=user).first()
        invitation.role = membership.role if membership else "annotator"
        if invitation.used_at is not None:
            invitation.used_by = user
        invitation.save(update_fields=["email", "role", "used_by"])


def drop_placeholders(apps: Any, schema_editor: Any) -> None:
    """Delete the placeholder accounts, now that no invitation points at them."""
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.filter(pk__in=_PLACEHOLDERS, password__startswith="!").delete()
    _PLACEHOLDERS.clear()


class Migration(migrations.Migration):
    replaces = [
        ("annotate", "0013_invitation_names_an_address"),
    ]

    dependencies = [
        ("annotate", "0004_import_progress_and_reward_margins"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="email",
            field=models.EmailField(default="", max_length=254),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="invitation",
            name="role",
            field=models.CharField(
                choices=[("admin", "Admin"), ("annotator", "Annotator")],
                default="annotator",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="invitation",
            name="used_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="invitations_used",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(address_and_role, migrations.RunPython.noop),
        migrations.RemoveField(model_name="invitation", name="user"),
        migrations.RunPython(drop_placeholders, migrations.RunPython.noop),
    ]
