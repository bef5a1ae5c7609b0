"""Every number a training run accepts is bounded, so nothing downstream divides by, or loops to, a
value no run could reach (the API and the job form pass hyperparameters straight to this model)."""

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError

from training.engine.config import Hyperparameters


def _numeric_fields():
    for name, field in Hyperparameters.model_fields.items():
        if any(kind in str(field.annotation) for kind in ("int", "float")):
            yield name, field


def test_every_numeric_hyperparameter_has_a_lower_and_an_upper_bound():
    unbounded = [
        name
        for name, field in _numeric_fields()
        if not any(isinstance(c, Ge | Gt) for c in field.metadata)
        or not any(isinstance(c, Le | Lt) for c in field.metadata)
    ]
    assert not unbounded, unbounded


@pytest.mark.parametrize("name", [name for name, _ in _numeric_fields()])
def test_a_huge_value_is_refused_naming_the_field(name):
    with pytest.raises(ValidationError) as refused:
        Hyperparameters(**{name: 10**30})
    assert name in str(refused.value)
