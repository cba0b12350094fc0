"""Schedules of a function: ``GET`` shows them with next fire times, ``PUT`` replaces them."""

from __future__ import annotations

from fastapi import Request

from faas.invoke.asyncq.records import iso
from faas.invoke.schedules.store import RuleView
from gateway.api.v1.schemas import ErrorOut, ScheduleList, ScheduleOut
from gateway.deps import PlatformDep
from gateway.edge.bodies import json_body
from gateway.edge.table import Endpoints

endpoint = Endpoints(tags=["schedules"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 404, 422, 503)
}


def _out(views: list[RuleView]) -> ScheduleList:
    return ScheduleList(
        schedules=[
            ScheduleOut(
                **{k: v for k, v in view.rule.to_dict().items() if k != "anchor"},
                since=iso(view.rule.anchor) or "",
                nextFires=[t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in view.next_fires],
                lastFire=iso(view.last_fire),
                fires=view.fires,
                misses=view.misses,
            )
            for view in views
        ]
    )


@endpoint(response_model=ScheduleList, responses=ERRORS)
async def get_schedules(platform: PlatformDep, name: str) -> ScheduleList:
    """The function's schedules, each with its next five fire times (UTC)."""
    return _out(await platform.schedules.get(name))


@endpoint(response_model=ScheduleList, responses=ERRORS)
async def put_schedules(platform: PlatformDep, name: str, request: Request) -> ScheduleList:
    """Replace the schedules: a list of ``{name, expression, input?, enabled?}``.

    Expressions: ``rate(5 minutes)``, ``cron(0 12 * * ? *)`` or a five-field crontab line.
    """
    return _out(await platform.schedules.put(name, await json_body(request)))
