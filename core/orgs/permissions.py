"""Which role may do what: the backend seed's role → permission matrix, extended to TokenTRA's resources.

Seed (BA §4.2): owner `*`; admin `read:*` + write teams, projects, budgets, alerts, api-keys and read billing;
member reads costs, usage, recommendations, teams, projects; viewer reads costs and usage; billing `read:*` +
write billing. CONTRACT §4 adds that admins write routing rules. Our additions, each stated here:

- `read:anomalies` is granted to members (anomalies are findings, like recommendations).
- `write:recommendations` (apply/dismiss: applying creates a routing rule) and `write:rules` go to admins.
- `write:anomalies` (acknowledge) goes with `write:alerts` to admins.
- `write:prices` (per-org price overrides) goes to billing (it writes billing) and owners.
- `write:usage` (track endpoint) and `use:gateway` go to owners, admins and members.

A key with scope `ingest` has only INGEST_PERMISSIONS, whatever its role.
"""

from __future__ import annotations

READ_PERMISSIONS = frozenset(
    {
        "read:costs",
        "read:usage",
        "read:recommendations",
        "read:anomalies",
        "read:budgets",
        "read:alerts",
        "read:rules",
        "read:api-keys",
        "read:teams",
        "read:projects",
        "read:billing",
        "read:audit",
        "read:exports",
    }
)
WRITE_PERMISSIONS = frozenset(
    {
        "write:teams",
        "write:projects",
        "write:budgets",
        "write:alerts",
        "write:anomalies",
        "write:rules",
        "write:recommendations",
        "write:api-keys",
        "write:billing",
        "write:prices",
        "write:usage",
        "use:gateway",
    }
)
ALL_PERMISSIONS = READ_PERMISSIONS | WRITE_PERMISSIONS
INGEST_PERMISSIONS = frozenset({"write:usage", "use:gateway"})

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": ALL_PERMISSIONS,
    "admin": READ_PERMISSIONS
    | {
        "write:teams",
        "write:projects",
        "write:budgets",
        "write:alerts",
        "write:anomalies",
        "write:rules",
        "write:recommendations",
        "write:api-keys",
        "write:usage",
        "use:gateway",
    },
    "member": frozenset(
        {
            "read:costs",
            "read:usage",
            "read:recommendations",
            "read:anomalies",
            "read:teams",
            "read:projects",
            "write:usage",
            "use:gateway",
        }
    ),
    "viewer": frozenset({"read:costs", "read:usage"}),
    "billing": READ_PERMISSIONS | {"write:billing", "write:prices"},
}


def permissions_of(*, role: str, scope: str) -> frozenset[str]:
    """Everything a key of this role and scope may do (nothing for an unknown role)."""
    if scope == "ingest":
        return INGEST_PERMISSIONS
    return ROLE_PERMISSIONS.get(role, frozenset())


def allows(*, role: str, scope: str, permission: str) -> bool:
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return permission in permissions_of(role=role, scope=scope)


def grantable_roles(*, role: str) -> tuple[str, ...]:
    """Roles a key of `role` may create: never a role with more permissions than its own."""
    mine = ROLE_PERMISSIONS.get(role, frozenset())
    return tuple(other for other, perms in ROLE_PERMISSIONS.items() if perms <= mine)
