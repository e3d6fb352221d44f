"""Organisations, users with a role, and API tokens (stored as hashes)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from clearinghouse.accounts.permissions import ROLE_LABELS, Permission, Role, role_has


class Organisation(models.Model):
    class Kind(models.TextChoices):
        VENDOR = "vendor", "Model vendor"
        REPORTER = "reporter", "Reporter organisation"
        OPERATOR = "operator", "Operator"

    name = models.CharField(max_length=200, unique=True, db_comment="Display name, unique.")
    slug = models.SlugField(max_length=80, unique=True, db_comment="URL-safe identifier.")
    kind = models.CharField(
        max_length=16, choices=Kind.choices, db_comment="vendor, reporter or operator."
    )
    contact_email = models.EmailField(
        blank=True, db_comment="Security contact of the organisation."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When it was registered.")

    class Meta:
        ordering = ["name"]
        db_table_comment = "Vendors, reporter organisations and operators."

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    role = models.CharField(
        max_length=16,
        choices=[(role.value, ROLE_LABELS[role]) for role in Role],
        default=Role.REPORTER.value,
        db_comment="One role; permissions follow from it (accounts.permissions).",
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        db_comment="The organisation the user acts for, if any.",
    )

    class Meta:
        db_table_comment = "People and service accounts; one role each."

    def has_permission(self, permission: Permission) -> bool:
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return role_has(self.role, permission)


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 of the secret is stored.

    SHA-256 rather than a slow password hash: the secret is 256 random bits, so there is nothing
    to brute-force, and every API request verifies one.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_tokens", db_comment="Owner."
    )
    name = models.CharField(max_length=100, db_comment="What the owner calls it.")
    prefix = models.CharField(
        max_length=16, unique=True, db_comment="Public first part of the token, for lookup."
    )
    secret_hash = models.CharField(max_length=64, db_comment="SHA-256 hex of the whole token.")
    created_at = models.DateTimeField(auto_now_add=True, db_comment="When it was issued.")
    last_used_at = models.DateTimeField(null=True, blank=True, db_comment="Last successful use.")
    revoked_at = models.DateTimeField(null=True, blank=True, db_comment="Set when revoked.")

    class Meta:
        db_table_comment = "API bearer tokens; hashed at rest."

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"
