"""What a scenario hands back: flat figures, the rows of the results table, notes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of the results table: a figure of the project next to its baseline.

    ``key`` names the project figure (a target may refer to it); ``chart`` says
    whether the pair belongs in the scenario's panel of the chart.
    """

    figure: str
    unit: str
    project: float | None
    baseline: float | None = None
    baseline_label: str = ""
    key: str = ""
    chart: bool = True


@dataclass
class Result:
    """One scenario's outcome. ``error`` is set when it could not finish."""

    name: str
    title: str
    figures: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def row(self, figure: str, unit: str, key: str, project: float | None, **kw: Any) -> None:
        """Record a figure and its table row at once (a row without ``key``: only the row)."""
        if key and project is not None:
            self.figures[key] = project
        self.rows.append(Row(figure, unit, project, key=key, **kw))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        rows = [Row(**r) for r in data.get("rows", [])]
        return cls(**{**data, "rows": rows})
