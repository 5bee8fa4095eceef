"""The last touches drf-spectacular's generated document gets: the components of the shapes it refers to,
and the patterns of the path parameters the server checks (so generated clients check them too)."""

from __future__ import annotations

from typing import Any

from codeq_platform.api import shapes
from codeq_platform.api.inputs import COMMAND, TASK_ID
from codeq_platform.scheduler.services import SCHEDULE_NAME_RE

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "command": {"type": "string", "pattern": COMMAND, "minLength": 1, "maxLength": 200},
    "task_id": {"type": "string", "pattern": TASK_ID, "minLength": 1, "maxLength": 200},
    "name": {
        "type": "string",
        "pattern": f"^{SCHEDULE_NAME_RE.pattern}$",
        "maxLength": 63,
        "description": "a DNS label of at most 63 characters",
    },
    "subscription_id": {"type": "string"},
}


def finish(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "path" and parameter["name"] in PATH_PARAMETERS:
                    parameter["schema"] = {**parameter.get("schema", {}), **PATH_PARAMETERS[parameter["name"]]}
    return shapes.add_components(result)
