"""Build installed-looking distributions with connector entry points in a directory (no pip involved)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from django_automate.connectors.registry import ENTRY_POINT_GROUP

GREETER = '''
from django_automate.connectors.base import Action, BaseConnector, StepResult


class GreeterConnector(BaseConnector):
    """Greets people."""

    type = "greeter"
    actions = {
        "greet": Action(
            "greet",
            {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "Say hello.",
        )
    }

    def execute(self, action, params, ctx):
        params = self.validate(action, params)
        return StepResult(
            output={"greeting": "Hello, " + params["name"] + "!", "step": ctx.idempotency_key, "trace": ctx.trace_id},
            cost=1.5,
        )
'''


def install(directory: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """Write ``modules`` (name → source) and a ``<dist>-1.0.dist-info`` declaring ``entry_points``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
    info = directory / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return directory
