"""Governance registers in the admin console arrive with their models; the audit log's is `audit.admin`."""
