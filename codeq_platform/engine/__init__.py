"""The queue engine: all hot queue state in a Redis-protocol store, changed only by Lua scripts.

Pure Python: no Django import here (an import-linter contract checks it).
"""

from codeq_platform.engine.core import EngineConfig
from codeq_platform.engine.engine import AsyncEngine, Engine, connect, connect_async
from codeq_platform.engine.keys import command_key
from codeq_platform.engine.model import (
    Enqueued,
    Moved,
    Nacked,
    NewTask,
    OutboxEvent,
    Page,
    QueueSettings,
    QueueStats,
    Report,
    Settled,
    State,
    SweepReport,
    Task,
    TaskEvent,
    TaskResult,
)

__all__ = ["AsyncEngine", "Engine", "EngineConfig", "Enqueued", "Moved", "Nacked", "NewTask", "OutboxEvent", "Page",
           "QueueSettings", "QueueStats", "Report", "Settled", "State", "SweepReport", "Task", "TaskEvent",
           "TaskResult", "command_key", "connect", "connect_async"]  # fmt: skip
