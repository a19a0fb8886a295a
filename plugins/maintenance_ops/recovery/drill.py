"""The disaster-recovery readiness report: checks by area, a score with reasons, a verdict.

Pure: the drill operator collects the checks; this module weighs them and renders the evidence
file an auditor can be handed (JSON for machines, Markdown for people).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from maintenance_ops.core.checks import Check, Status

# What each area is worth out of 100. Backups and the point-in-time restore are what recovery
# rests on: a failure there makes the verdict "not ready" whatever the score.
AREA_WEIGHTS: dict[str, int] = {
    "backup": 30,
    "pitr": 25,
    "replicas": 15,
    "binlogs": 10,
    "runbooks": 10,
    "notifications": 10,
}
CRITICAL_AREAS = frozenset({"backup", "pitr"})
AREA_TITLES = {
    "backup": "Backup availability",
    "binlogs": "Binlogs to roll forward",
    "replicas": "Replica readiness",
    "runbooks": "Runbooks",
    "notifications": "Notification channels",
    "pitr": "Point-in-time recovery drill",
}
READY, AT_RISK, NOT_READY = "ready", "at risk", "not ready"


@dataclass
class Readiness:
    """A drill's outcome: every check by area, the measured RTO and RPO, score and verdict."""

    database: str
    drilled_at: datetime
    areas: dict[str, list[Check]]
    score: int
    verdict: str
    reasons: list[str]
    rto_s: float | None = None
    rto_target_s: float | None = None
    rpo_s: float | None = None
    rpo_target_s: float | None = None
    recovery_point: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[tuple[str, Check]]:
        """Return every failed check with its area."""
        return [(a, c) for a, checks in self.areas.items() for c in checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the evidence file's content)."""
        return {
            "database": self.database,
            "drilled_at": self.drilled_at.isoformat(),
            "verdict": self.verdict,
            "score": self.score,
            "reasons": self.reasons,
            "rto_s": self.rto_s,
            "rto_target_s": self.rto_target_s,
            "rpo_s": self.rpo_s,
            "rpo_target_s": self.rpo_target_s,
            "recovery_point": self.recovery_point,
            "areas": {a: [asdict(c) for c in checks] for a, checks in self.areas.items()},
            "facts": self.facts,
        }


def assess(
    database: str,
    drilled_at: datetime,
    areas: dict[str, list[Check]],
    *,
    ready_score: int,
    rto_s: float | None = None,
    rto_target_s: float | None = None,
    rpo_s: float | None = None,
    rpo_target_s: float | None = None,
    recovery_point: str | None = None,
    facts: dict[str, Any] | None = None,
) -> Readiness:
    """Weigh the checks into a score out of 100 and a verdict, with one reason per deduction.

    A failed check costs its area's weight shared among the area's checks that ran; skipped
    checks cost nothing but are listed. An RTO or RPO over its target is a failed check of the
    PITR or backup area. Any failure in a critical area makes the verdict "not ready"; else a
    score below ``ready_score`` is "at risk".
    """
    areas = {a: list(checks) for a, checks in areas.items()}
    if rto_s is not None and rto_target_s is not None:
        status: Status = "pass" if rto_s <= rto_target_s else "fail"
        areas.setdefault("pitr", []).append(
            Check("rto", status, f"recovery took {rto_s:.1f}s; target {rto_target_s:.0f}s")
        )
    score = 100.0
    reasons: list[str] = []
    for area, checks in areas.items():
        ran = [c for c in checks if c.status != "skipped"]
        for check in checks:
            if check.status == "fail":
                cost = AREA_WEIGHTS.get(area, 10) / max(len(ran), 1)
                score -= cost
                reasons.append(f"-{cost:.0f} {area}/{check.name}: {check.detail}")
            elif check.status == "skipped":
                reasons.append(f"skipped {area}/{check.name}: {check.detail}")
    critical = any(c.status == "fail" for a in CRITICAL_AREAS for c in areas.get(a, []))
    final = max(0, round(score))
    verdict = NOT_READY if critical else READY if final >= ready_score else AT_RISK
    return Readiness(
        database=database,
        drilled_at=drilled_at,
        areas=areas,
        score=final,
        verdict=verdict,
        reasons=reasons,
        rto_s=rto_s,
        rto_target_s=rto_target_s,
        rpo_s=rpo_s,
        rpo_target_s=rpo_target_s,
        recovery_point=recovery_point,
        facts=facts or {},
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def render_markdown(readiness: Readiness) -> str:
    """Return the readable evidence: verdict, RTO/RPO against targets, every check."""
    r = readiness
    lines = [
        f"# Disaster-recovery readiness: {r.database}",
        "",
        f"Drill at {r.drilled_at:%Y-%m-%d %H:%M:%S} UTC. **Verdict: {r.verdict.upper()}**, "
        f"score {r.score}/100.",
        "",
        "| Measure | Achieved | Target |",
        "|---|---:|---:|",
        f"| RTO (restore + roll forward + checks) | {_seconds(r.rto_s)} | "
        f"{_seconds(r.rto_target_s)} |",
        f"| RPO (age of the newest backup) | {_seconds(r.rpo_s)} | {_seconds(r.rpo_target_s)} |",
        f"| Recovery point reached by the drill | {r.recovery_point or '-'} | |",
        "",
    ]
    if r.reasons:
        lines += ["## Why this score", ""] + [f"- {reason}" for reason in r.reasons] + [""]
    for area, checks in r.areas.items():
        lines += [f"## {AREA_TITLES.get(area, area)}", "", "| Check | Result | Evidence |"]
        lines.append("|---|---|---|")
        for check in checks:
            detail = check.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {check.name} | {check.status.upper()} | {detail} |")
        lines.append("")
    if r.facts:
        lines += ["## Facts", "", "```json", json.dumps(r.facts, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def write_evidence(readiness: Readiness, folder: Path) -> tuple[Path, Path]:
    """Write ``<date>-<database>-dr-readiness.json`` and ``.md`` into ``folder``; return both."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{readiness.drilled_at:%Y-%m-%dT%H%M%S}-{readiness.database}-dr-readiness"
    json_path = folder / f"{stem}.json"
    md_path = folder / f"{stem}.md"
    json_path.write_text(json.dumps(readiness.to_dict(), indent=2, default=str), encoding="utf-8")
    md_path.write_text(render_markdown(readiness), encoding="utf-8")
    return json_path, md_path
