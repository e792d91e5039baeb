"""Imports every ORM module so that Base.metadata holds the whole schema (Alembic's target)."""

from core.assistant.models import SqlQueryLog
from core.audit.models import AgentRun, AuditLogEntry
from core.budgets.models import AlertDelivery, AlertEvent, AlertRule, Budget, BudgetPeriodState
from core.cache.models import ResponseCacheEntry
from core.db import Base
from core.detectors.models import Anomaly, Recommendation
from core.orgs.models import ApiKey, Organization, Project, ProviderConnection, Team
from core.pricing.models import Price
from core.routing.models import RoutingRule
from core.usage.models import UsageEventRow, UsageRequestKey, UsageRollupDaily, UsageRollupHourly

metadata = Base.metadata

__all__ = [
    "AgentRun",
    "AlertDelivery",
    "AlertEvent",
    "AlertRule",
    "Anomaly",
    "ApiKey",
    "AuditLogEntry",
    "Budget",
    "BudgetPeriodState",
    "Organization",
    "Price",
    "Project",
    "ProviderConnection",
    "Recommendation",
    "ResponseCacheEntry",
    "RoutingRule",
    "SqlQueryLog",
    "Team",
    "UsageEventRow",
    "UsageRequestKey",
    "UsageRollupDaily",
    "UsageRollupHourly",
    "metadata",
]
