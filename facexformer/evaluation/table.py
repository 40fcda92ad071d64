"""The results table in the papers' form: a row per subset and metric, in the papers' units (NME, F1 and
accuracies in %, angles in degrees, ages in years), the metric named with its protocol (``NME_io``, ``FR@0.08``,
``MAE_yaw``...), the faces scored and the published numbers beside ours.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facexformer.evaluation.protocol import Benchmark
from facexformer.io.atomic import write_atomically
from facexformer.training.stage_metrics import EpochResult

#: short names of the NME normalisations in metric names (``NME_io``)
NORMALIZER_NAMES = {"inter_ocular": "io", "inter_pupil": "ip", "bbox": "box", "diagonal": "diag", "none": "px"}
#: metrics that count images rather than score them: shown only when not zero
DIAGNOSTICS = ("NonFinitePredictions", "DegenerateTargets")
ACCURACIES = ("MulticlassAccuracy", "MultilabelAccuracy", "BinaryAccuracy")


@dataclass(frozen=True)
class TableRow:
    """One row of ``results.json``; ``value`` None for an empty subset."""

    benchmark: str
    checkpoint: str
    subset: str
    task: str
    metric: str
    value: float | None
    unit: str
    faces: int
    protocol: str
    published: tuple[dict[str, Any], ...] = ()


def paper_form(result: EpochResult) -> tuple[str, float, str] | None:
    """(metric name with its protocol, value in the papers' unit, unit) of ``result``; None for a diagnostic
    count that is zero or a per-class F1 of the background (not a scored class)."""
    settings, value, kind, key = dict(result.settings), result.value, result.kind, result.metric
    if kind in DIAGNOSTICS:
        return (key, value, "faces") if value else None
    if kind == "NME":
        return f"NME_{NORMALIZER_NAMES.get(settings.get('normalization'), key)}", 100 * value, "%"
    if kind in ("FailureRate", "AUC"):
        return f"{'FR' if kind == 'FailureRate' else 'AUC'}@{settings['threshold']:g}", 100 * value, "%"
    if kind == "PoseMAE":
        name = "MAE" if key == "mae" else "MAE_" + key.removeprefix("mae_")
        rule = settings.get("rule", "plain")
        return (name if rule == "plain" else f"{name} ({rule})"), value, "°"
    if kind == "AgeMAE":
        return "MAE_age", value, "years"
    if kind == "ParsingF1":
        if key == "f1_background" and settings.get("ignore_background", True):
            return None
        return ("mean F1" if key == "f1" else "F1_" + key.removeprefix("f1_")), 100 * value, "%"
    if kind == "RecallAtPrecision":
        return f"recall@{100 * settings['min_precision']:g}%precision", 100 * value, "%"
    if kind in ACCURACIES:
        return key, 100 * value, "%"
    return key, value, ""


def build_rows(
    results: Sequence[EpochResult],
    subsets: Sequence[str],
    benchmark: Benchmark | None = None,
    checkpoint: str = "",
) -> list[TableRow]:
    """Rows of ``results`` (``StageMetrics.results["test"]``) for each of ``subsets`` in order; a subset with no
    result gets one row saying it is empty. A pooled run (subset ``""``) is named after ``benchmark``'s only
    subset, else "test". Published numbers come from ``benchmark``."""
    rows: list[TableRow] = []
    name = benchmark.name if benchmark is not None else ""
    single = list(benchmark.subsets) if benchmark is not None and len(benchmark.subsets) == 1 else ["test"]
    for subset in subsets:
        shown = subset or single[0]
        mine = sorted((r for r in results if r.subset == subset), key=_order)
        if not mine:
            rows.append(TableRow(name, checkpoint, shown, "", "empty subset", None, "", 0, "no face to score"))
            continue
        for result in mine:
            if benchmark is not None and not benchmark.shows(result.task, result.metric):
                continue
            form = paper_form(result)
            if form is None:
                continue
            metric, value, unit = form
            value = None if math.isnan(value) else value
            published = benchmark.published.get((shown, metric), ()) if benchmark is not None else ()
            protocol = ", ".join(f"{k}={v}" for k, v in result.settings) or result.kind
            rows.append(
                TableRow(
                    name,
                    checkpoint,
                    shown,
                    result.task,
                    metric,
                    value,
                    unit,
                    result.faces,
                    protocol,
                    tuple(p.to_dict() for p in published),
                )
            )
    return rows


#: the order of a subset's rows: the papers' headline metric first
KIND_ORDER = ("NME", "FailureRate", "AUC", "PoseMAE", "AgeMAE", "ParsingF1", "RecallAtPrecision", *ACCURACIES)


def _order(result: EpochResult) -> tuple[str, int]:
    return result.task, KIND_ORDER.index(result.kind) if result.kind in KIND_ORDER else len(KIND_ORDER)


def _published_cell(published: Sequence[dict[str, Any]], role: str) -> str:
    """The ``role`` numbers: "2.66 (source)" for the paper's, "90.62 DML-CSR (source)" for a specialist's."""
    cells = [
        f"{p['value']:g} {'' if role == 'paper' else p['method'] + ' '}({p['source']})"
        for p in published
        if p["role"] == role
    ]
    return "; ".join(cells) or "—"


def format_table(rows: Sequence[TableRow]) -> str:
    """``rows`` as a Markdown table (what the commands print and ``table.md`` holds)."""
    header = "| subset | task | metric | ours | unit | faces | FaceXFormer paper | strongest specialist |"
    lines = [header, "|" + "---|" * 8]
    for row in rows:
        value = "—" if row.value is None or math.isnan(row.value) else f"{row.value:.2f}"
        lines.append(
            f"| {row.subset} | {row.task} | {row.metric} | {value} | {row.unit} | {row.faces} | "
            f"{_published_cell(row.published, 'paper')} | {_published_cell(row.published, 'specialist')} |"
        )
    return "\n".join(lines)


def write_results(rows: Sequence[TableRow], folder: Path, overwrite: bool = True) -> None:
    """``results.json`` (``{"rows": [...]}``) and ``table.md`` in ``folder``, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"rows": [asdict(r) for r in rows]}, indent=2, allow_nan=False, default=_plain) + "\n"
    write_atomically(folder / "results.json", lambda tmp: tmp.write_text(payload), overwrite)
    table = format_table(rows) + "\n"
    write_atomically(folder / "table.md", lambda tmp: tmp.write_text(table), overwrite)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) else str(value)
