"""Governance models (promotion requests, approvals, model cards) arrive with the governance issue.

The audit log that every app writes is the foundation app `audit/`, not part of governance.
"""
