"""An invitation names an address and a role, not an account made in advance."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# Accounts that an invitation made in advance and nobody ever used: they go, so the people
# invited can take the address as their username when they accept.
_PLACEHOLDERS: set[int] = set()


def address_and_role(apps, schema_editor):
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


def drop_placeholders(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    User.objects.filter(pk__in=_PLACEHOLDERS, password__startswith="!").delete()
    _PLACEHOLDERS.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0012_pair_pending_random"),
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
