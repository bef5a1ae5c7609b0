"""Serializer fields every app's input serializers use where DRF's own would let bad input through."""

from __future__ import annotations

from rest_framework import serializers

from studio import jsonbounds
from studio.models import MAX_OBJECT_ID


class ObjectIdField(serializers.IntegerField):
    """The id of another object: a positive integer a primary key can hold (the selector then decides 404)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_OBJECT_ID, **kwargs)


class JSONField(serializers.JSONField):
    """DRF's JSONField with the studio's bounds on a JSON string (sent in a form or multipart field)."""

    def to_internal_value(self, data):
        if not (self.binary or getattr(data, "is_json_string", False)):
            return super().to_internal_value(data)
        try:
            return jsonbounds.loads(data)
        except jsonbounds.JSONRefused as error:
            raise serializers.ValidationError(error.message, code=error.code) from None
        except ValueError:
            self.fail("invalid")
