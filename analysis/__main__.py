"""`python -m analysis <command>`: each command lives in its own module's `add_cli`."""
import argparse
import importlib
import sys

COMMANDS = ("params", "train", "evaluate", "extract", "report", "card", "tasks.baseline")


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
    except (ValueError, FileNotFoundError) as e:  # our errors are actionable messages, not tracebacks
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
