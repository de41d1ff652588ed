"""Instances to predict, pin and compare: task inputs as editable fields, extraction rows and live results alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.extract.reader import Extraction

if TYPE_CHECKING:
    from analysis.extract.live import LiveResult, SwapResult

NEIGHBOR_COLUMNS = ["row", "task", "label", "distance", "target", "prediction", "source"]


@dataclass
class Instance:
    name: str                      # "row 12" or "typed input"
    source: str
    task: str
    output: str
    embedding: np.ndarray
    params: dict[str, np.ndarray]  # layer ("decoder.0") -> sketched generated parameters
    row: int | None = None

    def vector(self, column: str) -> np.ndarray:
        """The vector a map of `column` ("embedding" or "params.<layer>") plots for this instance."""
        return self.embedding if column == "embedding" else self.params[column.removeprefix("params.")]


def from_row(ext: Extraction, row: int) -> Instance:
    if not 0 <= row < len(ext.meta):
        raise ValueError(f"row {row} is not in this extraction: rows run from 0 to {len(ext.meta) - 1}")
    r = ext.meta.iloc[row]
    params = {c.removeprefix("params."): ext.vectors(c)[row] for c in ext.param_columns}
    return Instance(f"row {row}", r["source"], r["task"], r["prediction"] or "", ext.embedding[row], params, row)


def from_live(result: "LiveResult") -> Instance:
    return Instance("typed input", result.source, result.task, result.prediction, result.embedding, result.params)


def neighbor_table(meta: pd.DataFrame, ids: np.ndarray, distances: np.ndarray) -> pd.DataFrame:
    table = meta.iloc[ids].assign(distance=np.round(distances, 4))[NEIGHBOR_COLUMNS].reset_index(drop=True)
    if "label" in table:  # span, text and tag outputs have no label word
        table["label"] = table["label"].fillna("—")
    return table


def swap_table(s: "SwapResult") -> pd.DataFrame:
    """Each input decoded with its own generated decoder adapters and with the other's, and whether that changed it."""
    changed = lambda own, other: "yes" if other != own else "no"  # noqa: E731
    return pd.DataFrame([
        {"decoding": "A with its own adapters", "output": s.a, "changed": ""},
        {"decoding": "A with B's adapters", "output": s.a_with_b, "changed": changed(s.a, s.a_with_b)},
        {"decoding": "B with its own adapters", "output": s.b, "changed": ""},
        {"decoding": "B with A's adapters", "output": s.b_with_a, "changed": changed(s.b, s.b_with_a)},
    ])


def ties(distances) -> bool:
    """Every neighbour at distance 0: the vector is shared (a per-task method gives a whole task one), so which
    neighbours are listed is arbitrary."""
    return float(np.max(distances, initial=0)) < 1e-6


def reading_notes(result) -> list[str]:
    """What the model did not read of the input: past its token limit, or text its tokenizer cannot spell."""
    notes = [f"The input was cut to its first {result.tokens} tokens; the model read nothing after them."] if result.truncated else []
    if result.unknown:
        notes.append(f"{result.unknown} of the {result.tokens} tokens it read are unknown to this model's tokenizer "
                     "([UNK]): it cannot read that text, so the prediction and its confidence say little about it.")
    return notes


def confidence_line(result, neighbors, distances) -> str:
    """The model's confidence (mean token NLL of its own output) and, for a label task, the nearest instances'
    majority label. (An embedding shared by a whole task, as per-task methods have, has no informative neighbours.)"""
    parts = [f"Confidence: mean token NLL {result.nll:.3f} (a per-token probability of {np.exp(-result.nll):.0%})"
             ] if np.isfinite(result.nll) else []
    same = neighbors[(neighbors["task"] == result.task) & (neighbors["output_type"] == "label")]
    if not same.empty and not ties(distances):
        top, nearest = same["target"].value_counts(), f"the {len(same)} nearest validation instances of this task"
        if (top == top.iloc[0]).sum() > 1:
            parts.append(f"{nearest} are split between " + " and ".join(f"`{t}`" for t in top.index[top == top.iloc[0]]))
        else:
            agree = top.index[0].strip().lower() == result.prediction.strip().lower()
            parts.append(f"{nearest} mostly have target `{top.index[0]}` ({top.iloc[0] / len(same):.0%}), which "
                         + ("agrees with the prediction" if agree else "**disagrees** with the prediction"))
    return " · ".join(parts)
