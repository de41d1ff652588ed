"""`python -m analysis <command>`: each command lives in its own module's `add_cli`."""
import argparse
import importlib
import sys

from analysis.errors import HyperLensError

COMMANDS = {  # command -> the module that defines it, in pipeline order
    "baseline": "data.tasks.baseline", "params": "model.params", "train": "train.loop", "evaluate": "train.evaluate",
    "extract": "extract.writer", "project": "maps.projection", "report": "maps.report", "export": "maps.export",
    "card": "maps.card",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="HyperLens analysis backend")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(f"analysis.{module}").add_cli(sub)
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
