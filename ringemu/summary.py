"""The run summary shared by ``ringemu sim`` and ``ringemu run``: JSON keys and human text.

Both commands report the same keys (``valid``, ``snapshots``, ``false_alarms``, ``alarms``,
``faults``...) and exit 0 when valid, 1 when not, 2 when unknown, so scripts treat them alike.
Only the unit of time differs: rotations in the simulator, milliseconds in a live ring.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

from ringemu.checker import AlarmAccount, FaultOutcome, Judgement, Outcome
from ringemu.core.history import RunHistory
from ringemu.core.verdict import SnapshotResult

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2


def exit_code(valid: bool | str) -> int:
    if valid is True:
        return EXIT_VALID
    return EXIT_INVALID if valid is False else EXIT_UNKNOWN


def verdict_counts(results: Iterable[SnapshotResult]) -> dict[str, int]:
    return dict(sorted(Counter(r.verdict for r in results).items()))


def summary(
    history: RunHistory,
    judgement: Judgement,
    to_unit: Callable[[float], float],
    unit_key: str,
) -> dict:
    """The common JSON summary; ``to_unit`` converts a duration to the command's unit."""
    results = history.results
    valid = judgement.valid
    if history.refused and valid is True:
        valid = "unknown"  # a fault that never happened was meant to be judged
    return {
        "valid": valid,
        "snapshots": sum(1 for r in results if r.count is not None),
        "verdicts": verdict_counts(results),
        "false_alarms": len(judgement.false_alarms),
        "wrong_counts": len(judgement.defects),
        "defects": [d.describe() for d in judgement.defects],
        "outcomes": {o.value: judgement.count(o) for o in Outcome},
        "alarms": [alarm_dict(a, to_unit) for a in judgement.alarms],
        "faults": [fault_dict(f, to_unit, unit_key, history) for f in judgement.faults],
        "purges": len(history.purges),
        "rollbacks": len(history.rollbacks),
        "epochs": len(history.memberships),
        "refused": list(history.refused),
        **judgement.payloads,
        **judgement.links,
        "reordering": judgement.reordering != [],
    }


def alarm_dict(account: AlarmAccount, to_unit: Callable[[float], float]) -> dict:
    a = account.alarm
    return {
        "alarm": a.alarm_id,
        "kind": a.kind.value,
        "snapshot": a.snapshot_id,
        "raised": round(to_unit(a.raised), 3),
        "cleared": None if a.cleared is None else round(to_unit(a.cleared), 3),
        "cleared_by": a.cleared_by,
        "station": a.station,
        "detail": a.detail,
        "false": account.false,
        "explained_by": account.explained_by,
        "explained_by_link": [f.describe() for f in account.links[:LINK_FACTS_SHOWN]]
        + ([f"and {len(account.links) - LINK_FACTS_SHOWN} more"]
           if len(account.links) > LINK_FACTS_SHOWN else []),
        "why_false": account.reason if account.false else None,
    }


LINK_FACTS_SHOWN = 4
"""Link facts named per alarm (the rest are counted)."""


def fault_dict(o: FaultOutcome, to_unit: Callable[[float], float], unit_key: str,
               history: RunHistory) -> dict:
    f, latency = o.fault, o.latency
    recovered = counts_one = None
    if f.fired_at is not None and f.kind in ("kill", "heal"):
        steady = next((t for t, _ in history.steadies if t >= f.fired_at), None)
        if steady is not None:
            recovered = round(to_unit(steady - f.fired_at), 3)
            ok = next((r.finished for r in history.results
                       if r.started >= steady and r.verdict == "OK"), None)
            counts_one = None if ok is None else round(to_unit(ok - f.fired_at), 3)
    return {
        "fault_id": f.fault_id,
        "kind": f.kind.value,
        "station": f.station,
        "spec": f.spec,
        "injected": round(to_unit(f.injected_at), 3),
        "fired": None if f.fired_at is None else round(to_unit(f.fired_at), 3),
        "detected": o.outcome is Outcome.DETECTED,
        "outcome": o.outcome.value,
        "note": o.note,
        "snapshot": o.detected_by,
        unit_key: None if latency is None else round(to_unit(latency), 3),
        "passes_tokens_after": recovered,
        "counts_one_after": counts_one,
    }


OUTCOME_TEXT = {
    "missed": "MISSED",
    "masked": "masked (no verdict could show it)",
    "not-fired": "never fired (nothing reached the station to act on)",
    "unobserved": "no snapshot could see it before the run ended",
}


def human_lines(data: dict, unit_key: str, unit_name: str) -> list[str]:
    """Alarms, faults and the verdict as readable lines."""
    lines = []
    verdicts = ", ".join(f"{k} {v}" for k, v in data["verdicts"].items()) or "none"
    lines.append(f"snapshots  {data['snapshots']} completed ({verdicts})")
    if data["alarms"]:
        lines.append("alarms")
        for a in data["alarms"]:
            cleared = "still raised" if a["cleared"] is None else f"cleared at {a['cleared']:g}"
            flag = f"  FALSE ALARM: {a['why_false']}" if a["false"] else ""
            if a.get("explained_by_link") and not a["explained_by"]:
                flag = f"  ({'; '.join(a['explained_by_link'])})"
            lines.append(
                f"  {a['kind']:<10} raised at {a['raised']:g} by snapshot {a['snapshot']}, "
                f"{cleared}: {a['detail']}{flag}"
            )
    else:
        lines.append("alarms     none")
    if data["faults"]:
        lines.append("faults")
        for f in data["faults"]:
            if f["detected"]:
                how = f"detected by snapshot {f['snapshot']} after {f[unit_key]:g} {unit_name}"
            else:
                how = OUTCOME_TEXT.get(f["outcome"], f["outcome"])
                if f.get("note"):
                    how += f": {f['note']}"
            lines.append(f"  {f['spec']:<16} station {f['station']:<4} {how}")
        counts = ", ".join(f"{v} {k}" for k, v in data["outcomes"].items() if v)
        lines.append(f"  ({counts})")
    for d in data["defects"]:
        lines.append(f"WRONG COUNT {d}")
    if data.get("link_facts"):
        facts = ", ".join(f"{v} {k}" for k, v in data["link_facts"].items())
        lines.append(f"links      {facts}")
    lines.append(f"payloads   {data['payloads_sent']} sent, {data['payloads_delivered']} "
                 f"delivered, {data['duplicates']} duplicated, {data['lost']} lost, "
                 f"{data['out_of_order']} out of order"
                 + (f", {data['never_sent']} delivered but never sent"
                    if data.get("never_sent") else "")
                 + (f"; with dead stations: {data['lost_with_station']}"
                    if data["lost_with_station"] else ""))
    lines.append(f"false alarms {data['false_alarms']}")
    word = {True: "VALID", False: "INVALID", "unknown": "UNKNOWN"}[data["valid"]]
    lines.append(f"verdict    {word}")
    return lines
