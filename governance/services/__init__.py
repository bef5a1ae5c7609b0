"""Governance writes: every change of a promotion, approval, stage, policy or model card."""

from governance.services.cards import (
    card_approver,
    card_writer,
    model_card_approve,
    model_card_current,
    model_card_get_or_create,
    model_card_markdown,
    model_card_refresh,
    model_card_submit,
    model_card_update,
)
from governance.services.notifications import notification_mark_read, notify
from governance.services.policies import tier_policy_set_global, tier_policy_set_team
from governance.services.promotions import (
    promotion_approve,
    promotion_evidence_refresh,
    promotion_reject,
    promotion_request_create,
    promotion_withdraw,
)
from governance.services.stages import (
    model_version_retire,
    production_rollback,
    stage_set,
    staging_rollback_drill,
)

__all__ = [
    "card_approver",
    "card_writer",
    "model_card_approve",
    "model_card_current",
    "model_card_get_or_create",
    "model_card_markdown",
    "model_card_refresh",
    "model_card_submit",
    "model_card_update",
    "model_version_retire",
    "notification_mark_read",
    "notify",
    "production_rollback",
    "promotion_approve",
    "promotion_evidence_refresh",
    "promotion_reject",
    "promotion_request_create",
    "promotion_withdraw",
    "stage_set",
    "staging_rollback_drill",
    "tier_policy_set_global",
    "tier_policy_set_team",
]
