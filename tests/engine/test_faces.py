"""Both faces offer every plan of the core as a method with the plan's own signature."""

import inspect
from collections.abc import Generator
from typing import get_args, get_origin

from codeq_platform.engine import AsyncEngine, Engine
from codeq_platform.engine.core import Core


def _plans() -> dict[str, inspect.Signature]:
    plans = {}
    for name, member in vars(Core).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        signature = inspect.signature(member, eval_str=True)
        if get_origin(signature.return_annotation) is Generator:
            result = get_args(signature.return_annotation)[2]
            plans[name] = signature.replace(return_annotation=result)
    return plans


def test_every_plan_of_the_core_is_a_method_of_both_faces_with_its_result_type():
    plans = _plans()
    assert {"enqueue", "claim", "complete", "fail", "sweep", "get_result"} <= plans.keys()
    for name, signature in plans.items():
        assert inspect.signature(getattr(Engine, name)) == signature, name
        assert inspect.signature(getattr(AsyncEngine, name)) == signature, name
        assert not inspect.iscoroutinefunction(getattr(Engine, name)), name
        assert inspect.iscoroutinefunction(getattr(AsyncEngine, name)), name
        assert getattr(AsyncEngine, name).__doc__ == getattr(Core, name).__doc__, name
