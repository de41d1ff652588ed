"""The package layout is the pipeline: data -> model -> train -> extract -> maps. No module imports a later stage."""
import ast
from pathlib import Path

import pytest

STAGES = ["data", "model", "train", "extract", "maps"]  # analysis/<stage>/; top-level modules are shared helpers
ROOT = Path(__file__).resolve().parents[1] / "analysis"


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGES.index(parts[1]) + 1 if len(parts) > 1 and parts[1] in STAGES else 0


def imports(path: Path) -> set[str]:
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("analysis")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("analysis"):
                found.add(base)
    return found


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_later_stage(path):
    if path.name == "__main__.py":  # the command line reaches every stage by design
        return
    own = stage(".".join(path.relative_to(ROOT.parent).parts))
    upward = sorted(m for m in imports(path) if stage(m) > own)
    assert not upward, f"{path.relative_to(ROOT.parent)} imports a later stage: {upward}"


def test_every_stage_is_a_package_with_a_docstring():
    for name in STAGES:
        init = ROOT / name / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), name
