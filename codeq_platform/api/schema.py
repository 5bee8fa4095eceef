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
# Deleting is idempotent (reference §5: 204 also when absent): any name, and one that cannot be a schedule's
# is absent.
DELETE_PARAMETERS = {**PATH_PARAMETERS, "name": {"type": "string", "description": "any name; 204 also when absent"}}


def finish(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            known = DELETE_PARAMETERS if method == "delete" else PATH_PARAMETERS
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            shape = shapes.named(body.get("$ref", "").rpartition("/")[2])
            if shape is not None and shape.required():
                operation["requestBody"]["required"] = True
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "path" and parameter["name"] in known:
                    parameter["schema"] = {**parameter.get("schema", {}), **known[parameter["name"]]}
    return shapes.add_components(result)
