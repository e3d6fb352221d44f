"""The one list of permissions, and which role holds which.

Every endpoint and view names the permission it needs; nothing checks a role directly.
Names are ``<scope>:<resource>:<action>`` and the enum is kept alphabetised.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ADMIN_USERS_MANAGE = "admin:users:manage"
    CATALOG_VERSIONS_REGISTER = "catalog:versions:register"
    CONSOLE_QUEUE_VIEW = "console:queue:view"
    REPLAY_ENDPOINTS_MANAGE = "replay:endpoints:manage"
    REPLAY_RUN = "replay:campaigns:run"
    REPORTS_OWN_READ = "reports:own:read"
    REPORTS_ALL_READ = "reports:all:read"
    REPORTS_SUBMIT = "reports:submit"
    TRIAGE_CORRECT = "triage:results:correct"


class Role(StrEnum):
    REPORTER = "reporter"
    ANALYST = "analyst"
    COORDINATOR = "coordinator"
    VENDOR_MEMBER = "vendor_member"
    DEFENDER = "defender"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.REPORTER: "Reporter",
    Role.ANALYST: "Analyst",
    Role.COORDINATOR: "Coordinator",
    Role.VENDOR_MEMBER: "Vendor member",
    Role.DEFENDER: "Defender",
    Role.ADMIN: "Administrator",
}

_STAFF = {
    Permission.CONSOLE_QUEUE_VIEW,
    Permission.REPLAY_RUN,
    Permission.TRIAGE_CORRECT,
    Permission.REPORTS_ALL_READ,
    Permission.REPORTS_OWN_READ,
    Permission.REPORTS_SUBMIT,
}

# Vendor members and defenders see cases and advisories (coordination and sharing stages), not the
# raw intake queue: a report's working exploit stays with the clearinghouse until it is coordinated.
# Replay transcripts are that exploit working, so running campaigns and reading them is staff-only;
# registering endpoints (where requests go, which key variable a worker reads) is for
# coordinators and administrators.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REPORTER: frozenset({Permission.REPORTS_SUBMIT, Permission.REPORTS_OWN_READ}),
    Role.ANALYST: frozenset(_STAFF),
    Role.COORDINATOR: frozenset(
        _STAFF | {Permission.REPLAY_ENDPOINTS_MANAGE, Permission.CATALOG_VERSIONS_REGISTER}
    ),
    # A vendor registers new versions of its own models (and how to reach them): that is what
    # starts fix verification of the reports confirmed on earlier versions.
    Role.VENDOR_MEMBER: frozenset(
        {
            Permission.REPORTS_SUBMIT,
            Permission.REPORTS_OWN_READ,
            Permission.CATALOG_VERSIONS_REGISTER,
        }
    ),
    Role.DEFENDER: frozenset({Permission.REPORTS_SUBMIT, Permission.REPORTS_OWN_READ}),
    Role.ADMIN: frozenset(set(Permission)),
}


def role_has(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
