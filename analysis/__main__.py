"""`python -m analysis <command>`: each command lives in its own module's `add_cli`."""
import argparse
import importlib
import sys

from .errors import HyperLensError

COMMANDS = ("params", "train", "evaluate", "extract", "report", "card", "tasks.baseline")  # report adds project, export


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="HyperLens analysis backend")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"analysis.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"analysis.{name}":
                raise
            continue
        module.add_cli(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (HyperLensError, ValueError, OSError) as e:  # our errors are actionable messages, not tracebacks
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
