"""Command-line helpers: number options that say their range when a value is outside it, and the shape shared by
the commands that work on a checkpoint's extraction."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def out_of_range(value, lo, hi) -> str | None:
    """"must be at least 1, got 0" when `value` lies outside [lo, hi] (None leaves a side open), else None."""
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        return None
    return f"must be {f'between {lo} and {hi}' if hi is not None else f'at least {lo}'}, got {value}"


def number(kind: type = int, lo=None, hi=None):
    """An argparse `type` for an int or float in [lo, hi]."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
        problem = out_of_range(value, lo, hi)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return parse


def split_name(text: str) -> str:
    """An argparse `type` for a dataset split: a plain name, since it also names the files written for it."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", text):
        raise argparse.ArgumentTypeError(f"expected a split name such as validation or train (letters, digits, _ "
                                         f"and -), got {text!r}")
    return text


def checkpoint_command(sub: argparse._SubParsersAction, name: str, help: str, run,
                       vector: bool = True) -> argparse.ArgumentParser:
    """`name CKPT [--vector V] [--split S]`: a command on a checkpoint's extraction."""
    p = sub.add_parser(name, help=help)
    p.add_argument("checkpoint")
    if vector:
        p.add_argument("--vector", default="embedding", help="embedding or a params.<stack>.<layer> column")
    p.add_argument("--split", default="validation", type=split_name)
    p.set_defaults(run=run)
    return p


def method_options(text: str) -> dict:
    """--config: JSON text or a JSON file, holding one object."""
    is_file = Path(text).is_file()
    if not is_file and not text.lstrip().startswith(("{", "[")):
        raise ValueError(f"--config: no file {text} (give a JSON object, or the path of a file holding one)")
    try:
        options = json.loads(Path(text).read_text() if is_file else text)
    except json.JSONDecodeError as e:
        what = f"the file {text} is not valid JSON" if is_file else f"{text!r} is neither a JSON object nor a file"
        raise ValueError(f"--config: {what} ({e})") from None
    if not isinstance(options, dict):
        raise ValueError(f"--config must be a JSON object of method options, got {type(options).__name__}")
    return options
