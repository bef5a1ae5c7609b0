"""Writes for serving. Each service runs in one transaction and records its audit event."""

from serving.services.endpoints import endpoint_publish, endpoint_update, routing_threshold_suggest
from serving.services.keys import api_key_authenticate, api_key_create, api_key_revoke
from serving.services.requests import request_log_record, request_logs_purge
from serving.services.reviews import (
    review_item_confirm,
    review_item_correct,
    review_items_export,
)

__all__ = [
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "endpoint_publish",
    "endpoint_update",
    "request_log_record",
    "request_logs_purge",
    "review_item_confirm",
    "review_item_correct",
    "review_items_export",
    "routing_threshold_suggest",
]
