"""`python -m analysis <command>`: each command lives in its own module's `add_cli`."""
import argparse
import importlib
import os
import re
import sys

from analysis.errors import HyperLensError

COMMANDS = {  # command -> the module that defines it, in pipeline order
    "baseline": "data.tasks.baseline", "params": "model.params", "train": "train.loop", "evaluate": "train.evaluate",
    "extract": "extract.writer", "project": "maps.projection", "report": "maps.report", "export": "maps.export",
    "card": "maps.card",
}


def main(argv=None) -> int:
    try:
        parser = argparse.ArgumentParser(prog="python -m analysis", description="HyperLens analysis backend")
        sub = parser.add_subparsers(dest="command", required=True)
        for module in COMMANDS.values():
            importlib.import_module(f"analysis.{module}").add_cli(sub)
        args = parser.parse_args(argv)
        return args.run(args) or 0
    except (HyperLensError, ValueError, OSError) as e:  # our errors are actionable messages, not tracebacks
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, MemoryError) or "allocate" in str(e):
            asked = re.search(r"allocate (\d+) bytes", str(e))
            print("error: not enough memory for this model or batch" + (f" (one tensor asked for "
                  f"{int(asked[1]) / 2**30:,.1f} GiB)" if asked else "") + "; lower the sizes in --config or "
                  "--batch-size", file=sys.stderr)
            return 2
        return unexpected(e)
    except Exception as e:  # noqa: BLE001
        return unexpected(e)


def unexpected(e: Exception) -> int:
    """The last resort: one line, not a traceback (HYPERLENS_DEBUG=1 shows it)."""
    if os.environ.get("HYPERLENS_DEBUG"):
        raise e
    first = (str(e).strip().splitlines() or [""])[0][:300]  # some libraries' messages run to a page
    print(f"error: {type(e).__name__}: {first}. This is unexpected: a file edited or damaged by hand, or a bug "
          "(HYPERLENS_DEBUG=1 shows the traceback)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
