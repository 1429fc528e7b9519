"""A phase job whose work is a function the test gives: for driving the real runner through a scenario."""

from __future__ import annotations

from typing import Callable

from vtdb.runner import JobContext, JobResult
from vtdb.store import Claim


class BehaviourJob:
    phase = "phase1"

    def __init__(self, behaviour: Callable[[Claim, JobContext], JobResult]):
        self.behaviour = behaviour

    def process(self, claim: Claim, ctx: JobContext) -> JobResult:
        return self.behaviour(claim, ctx)
