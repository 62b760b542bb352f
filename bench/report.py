"""From raw receipts to figures, and from figures to the table and the list of problems."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from bench.clients import Records


def summarize(
    records: list[Records], k0: int, k1: int, t0: int, t1: int, servers: int
) -> dict[str, Any]:
    """Delivery figures for messages k0..k1-1, and how many receipts fell inside [t0, t1].

    Subscriber `sid` is served by process `sid % servers`; the slowest messages are broken down
    by process, which tells a stall of one process from a stall of the layer or the publisher.
    """
    latencies: list[int] = []
    slowest: dict[int, list[int]] = {}  # k -> slowest delivery per server process
    seen: set[tuple[int, int]] = set()
    last_k: dict[int, int] = {}
    in_window = duplicates = out_of_order = 0
    for rec in records:
        for sid, k, sent, received in zip(rec.sid, rec.k, rec.sent, rec.received, strict=True):
            if t0 <= received <= t1:
                in_window += 1
            if k < last_k.get(sid, -1):
                out_of_order += 1
            last_k[sid] = max(k, last_k.get(sid, -1))
            if not k0 <= k < k1:
                continue
            if (sid, k) in seen:
                duplicates += 1
                continue
            seen.add((sid, k))
            latency = received - sent
            latencies.append(latency)
            per_server = slowest.setdefault(k, [0] * servers)
            per_server[sid % servers] = max(per_server[sid % servers], latency)
    latencies.sort()
    worst = sorted(slowest.items(), key=lambda item: -max(item[1]))[:5]
    return {
        "in_window": in_window,
        "received": len(seen),
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "latency_ms_p50": percentile_ms(latencies, 0.50),
        "latency_ms_p99": percentile_ms(latencies, 0.99),
        "latency_ms_max": percentile_ms(latencies, 1.0),
        "slowest_messages_ms_by_process": {k: [ms(v) for v in per] for k, per in worst},
        "max_latency_ms_by_message": {k: ms(max(per)) for k, per in sorted(slowest.items())},
    }


def ms(ns: int) -> float:
    return round(ns / 1e6, 2)


def percentile_ms(ordered: list[int], q: float) -> float | None:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return None
    return ms(ordered[max(math.ceil(q * len(ordered)) - 1, 0)])


def merge_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for c in counts:
        for key, n in c.items():
            merged[key] = merged.get(key, 0) + n
    return merged


# --- table -----------------------------------------------------------------------------------

Fmt = Callable[[Any], str] | None
one, two, three = "{:.1f}".format, "{:.2f}".format, "{:.3f}".format

ROWS: list[tuple[str, str, Fmt]] = [
    ("subscribers open / asked", "opened", None),
    ("deliveries in window", "deliveries_in_window", None),
    ("  all frames in window", "frames_in_window", None),
    ("server CPU us / delivery", "cpu_us_per_delivery", one),
    ("  per frame", "cpu_us_per_frame", one),
    ("  server processes only", "cpu_us_per_delivery_app", one),
    ("  redis-server only", "cpu_us_per_delivery_redis", one),
    ("  above idle", "cpu_us_per_delivery_above_idle", one),
    ("server CPU, cores busy", "server_cores_busy", three),
    ("  when idle", "server_cores_busy_idle", three),
    ("latency p50 ms", "latency_ms_p50", two),
    ("latency p99 ms", "latency_ms_p99", two),
    ("latency max ms", "latency_ms_max", two),
    ("  sender's own copy p50 ms", "sender_copy_latency_ms_p50", two),
    ("  sender's own copy max ms", "sender_copy_latency_ms_max", two),
    ("lost / expected", "lost", None),
    ("duplicates, out of order", "duplicates", None),
    ("connects / s", "connects_per_second", "{:.0f}".format),
    ("server CPU ms / connect", "cpu_ms_per_connect", two),
    ("settling after connects, s", "settle_seconds", one),
    ("other frames at subscribers", "other_frames_at_subscribers", None),
    ("RSS KiB / socket", "rss_kib_per_socket", one),
    ("client CPU, cores busy", "client_cores_busy", three),
    ("other processes, cores busy", "other_cores_busy", three),
]

RATIO_KEYS = [
    "cpu_us_per_delivery",
    "cpu_us_per_frame",
    "cpu_us_per_delivery_app",
    "cpu_us_per_delivery_above_idle",
    "latency_ms_p50",
    "latency_ms_p99",
    "connects_per_second",
    "cpu_ms_per_connect",
    "rss_kib_per_socket",
]


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """a / b for the figures worth comparing (None where b is zero or missing)."""
    out = {}
    for key in RATIO_KEYS:
        x, y = a.get(key), b.get(key)
        out[key] = round(x / y, 3) if x is not None and y else None
    return out


def cell(result: dict[str, Any], key: str, fmt: Fmt) -> str:
    if key == "opened":
        return f"{result['opened']}/{result['subscribers']}"
    if key == "lost":
        return f"{result['lost']}/{result['expected_deliveries']}"
    if key == "duplicates":
        return f"{result['duplicates']}, {result['out_of_order']}"
    if key == "other_frames_at_subscribers":
        kinds = result[key].values()
        return f"{sum(k['frames'] for k in kinds)}, {sum(k['mib'] for k in kinds):.1f} MiB"
    value = result.get(key)
    if value is None:
        return "-"
    return fmt(value) if fmt else str(value)


# Column heads of the ratios: switchboard / each baseline.
RATIO_HEADS = {
    "switchboard-pubsub": "sb/pubsub",
    "tutorial": "sb/tut",
    "bare-asgi": "sb/bare",
    "websockets": "sb/ws",
    "mix/switchboard": "mix/sb",
    "mix/bare-asgi": "mix/bare",
    "mix/websockets": "mix/ws",
}


def table(results: dict[str, dict[str, Any]], rat: dict[str, dict[str, float | None]]) -> str:
    """One column per system, then one per ratio of Switchboard to a baseline."""
    heads = [*results, *(RATIO_HEADS.get(name, f"sb/{name}") for name in rat)]
    rows = []
    for label, key, fmt in ROWS:
        ratio_cells = [rat[name].get(key) for name in rat]
        rows.append(
            [
                label,
                *(cell(result, key, fmt) for result in results.values()),
                *("" if r is None else f"{r:.2f}" for r in ratio_cells),
            ]
        )
    widths = [max(len(row[0]) for row in rows)]
    widths += [max(len(h), *(len(row[i + 1]) for row in rows)) for i, h in enumerate(heads)]
    lines = [" ".join(text.rjust(w) for text, w in zip(["", *heads], widths, strict=True))]
    lines.append("-" * len(lines[0]))
    for row in rows:
        cells = (
            text.ljust(w) if i == 0 else text.rjust(w)
            for i, (text, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def problem_lines(results: dict[str, dict[str, Any]], busy_machine: float) -> list[str]:
    """Everything that went wrong, one line each; teardown log noise is listed apart."""
    lines = []
    for name, result in results.items():
        p = result["problems"]
        if result["other_cores_busy"] > busy_machine:
            lines.append(
                f"{name}: other processes kept {result['other_cores_busy']:.2f} cores busy during "
                "the window: latency and connect figures are doubtful, CPU figures less so"
            )
        if result["lost"] or result["duplicates"] or result["out_of_order"]:
            lines.append(
                f"{name}: lost {result['lost']}, duplicates {result['duplicates']}, "
                f"out of order {result['out_of_order']}"
            )
        if not result["settled"]:
            lines.append(
                f"{name}: the servers were still busy {result['settle_seconds']:g} s after the "
                "connects; the idle and measured phases include that work"
            )
        # The mix: every reply and reaction the server accepted reaches every socket once.
        for kind, frame in (("replies", "message.updated"), ("reactions", "reactions")):
            if "mix_sent" not in result:
                break
            expected = result["mix_sent"][kind] * result["opened"]
            got = result["other_frames_at_subscribers"].get(frame, {}).get("frames", 0)
            if got < expected:
                lines.append(f"{name}: {got} {frame} frames of {expected} (the mix's {kind})")
        for key in ("failed_connects", "unexpected_closes", "publisher_error_frames"):
            if p[key]:
                lines.append(f"{name}: {key} {p[key]}")
        if p["publishers_closed_early"]:
            lines.append(
                f"{name}: publisher sockets closed by the server: {p['publishers_closed_early']}"
            )
        if p["subscriber_error_frames"]:
            lines.append(f"{name}: {p['subscriber_error_frames']} error frames at subscribers")
        if p["servers_exited"]:
            lines.append(f"{name}: a server process exited during the run: {p['servers_exited']}")
        for log in p["server_logs"]:
            for phase in ("run", "teardown"):
                count, first = log[f"{phase}_trouble"], log[f"{phase}_first"]
                if count:
                    lines.append(
                        f"{name}: {log['path']}: {count} warning/error lines during {phase}; "
                        f"first: {first[0]}"
                    )
    return lines
