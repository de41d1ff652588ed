"""Selections and filters over an extraction's rows: row ids from a plotly event, facet/text filters, summaries, export."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from analysis.maps.quality import FACETS as QUALITY_FACETS

FACETS = (*QUALITY_FACETS, "correct")  # what the map can colour and filter by
TABLE_COLUMNS = ["row", "task", "label", "correct", "target", "prediction", "source"]  # prediction beside target
MISMATCH = "background-color: rgba(217, 95, 2, 0.18)"  # a wrong prediction's cell, in the map's "incorrect" orange


TABLE_CONFIG = {"row": {"width": 50}, "task": {"width": 90}, "label": {"width": 100}, "correct": {"width": 60},
                "target": {"width": 190}, "prediction": {"width": 190}, "source": {"width": 600}}


def styled_table(rows: pd.DataFrame):
    """The selection's rows, the prediction beside its target and tinted where it is scored wrong."""
    table = rows[TABLE_COLUMNS]
    wrong = table["correct"].eq(False).to_numpy()
    return table.style.apply(lambda col: [MISMATCH if w else "" for w in wrong], subset=["prediction"])


def event_rows(event) -> list[int]:
    """Row ids from a plotly selection event (customdata[0] of each point; overlays without customdata skipped)."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    ids = []
    for p in points:
        custom = p.get("customdata")
        if custom is not None:
            ids.append(int(custom[0] if isinstance(custom, (list, tuple)) else custom))
    return list(dict.fromkeys(ids))


def filter_mask(meta: pd.DataFrame, facets: dict[str, list], query: str = "", regex: bool = False) -> np.ndarray:
    """Rows matching every non-empty facet choice and the text query on the input (ValueError on a bad regex)."""
    mask = np.ones(len(meta), bool)
    for column, chosen in facets.items():
        if chosen:
            mask &= meta[column].astype(object).where(meta[column].notna(), None).isin(chosen).to_numpy()
    if query:
        if regex:
            try:
                re.compile(query)
            except re.error as e:
                raise ValueError(f"not a valid regular expression ({e}); untick 'regex' to search plain text") from None
        mask &= meta["source"].str.contains(query, case=False, regex=regex, na=False).to_numpy()
    return mask


def facet_options(meta: pd.DataFrame, column: str) -> list:
    values = meta[column].dropna().unique().tolist()
    return sorted(values, key=str) + ([None] if meta[column].isna().any() else [])


def composition(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Counts and shares per task, label and output type, with the error rate of each task."""
    out = {}
    for column in ("task", "label", "output_type"):
        counts = rows[column].fillna("(none)").value_counts().rename_axis(column).reset_index(name="count")
        counts["share"] = counts["count"] / max(len(rows), 1)
        if column == "task":
            errors = rows.assign(error=rows["correct"].map({True: 0.0, False: 1.0})).groupby("task")["error"].mean()
            counts["error rate"] = counts["task"].map(errors)
        out[column] = counts
    return out


def error_rate(rows: pd.DataFrame) -> float | None:
    scored = rows["correct"].dropna()
    return None if scored.empty else 1.0 - scored.astype(bool).mean()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's CSV-injection advice)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def to_csv(rows: pd.DataFrame) -> bytes:
    return rows.map(spreadsheet_safe).to_csv(index=False).encode()


def to_parquet(rows: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    rows.to_parquet(buf, index=False)
    return buf.getvalue()
