"""The package's structure (see ethoflow/__init__.py): imports follow one declared order, no
private name crosses a package, torch stays out of the torch-free stages, and modules and
functions stay small enough to read."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "ethoflow"

#: package -> the packages it may import (besides itself). The declared order:
#: defaults <- io <- labels, models <- tracking <- evaluation <- report; demo: io, labels.
ALLOWED = {
    "ethoflow": {"io"},  # the root's documented aliases (masks, tracktable)
    "defaults": set(),
    "io": {"defaults"},
    "labels": {"defaults", "io"},
    "models": {"defaults", "io"},
    "tracking": {"defaults", "io", "labels", "models"},
    "evaluation": {"defaults", "io", "labels", "tracking"},
    "behaviour": {"defaults", "io", "labels", "tracking", "evaluation"},
    "report": {"defaults", "io", "labels", "tracking", "evaluation", "behaviour"},
    "demo": {"defaults", "io", "labels"},
    "sheet": {"io"},
    "aggregate": {"defaults", "io", "labels"},
}
#: Modules that may import torch; everything else runs in the torch-free `base` environment.
TORCH_MODULES = ("ethoflow.models", "ethoflow.tracking.infer", "ethoflow.behaviour.tcn")
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 120


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ethoflow"


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path):
    """(imported module, [names], line) for every import, module level or inside functions."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield resolve(module, path, node), [a.name for a in node.names], node.lineno


def is_module(dotted: str) -> bool:
    base = REPO.joinpath(*dotted.split("."))
    return (base / "__init__.py").is_file() or base.with_suffix(".py").is_file()


MODULES = dict(modules())


def test_every_package_is_declared():
    assert {package_of(m) for m in MODULES} <= set(ALLOWED)


def test_imports_follow_the_declared_order():
    bad = []
    for module, path in MODULES.items():
        src = package_of(module)
        for target, names, line in imports(module, path):
            if target != "ethoflow" and not target.startswith("ethoflow."):
                continue
            dests = [target] if target != "ethoflow" else [f"ethoflow.{n}" for n in names]
            for dest in dests:
                dst = package_of(dest)
                if dst != src and dst not in ALLOWED[src]:
                    bad.append(f"{path.relative_to(REPO)}:{line}: {src} imports {dest} ({dst})")
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_package():
    bad = []
    for module, path in MODULES.items():
        src = package_of(module)
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> imported ethoflow module of another package
        for target, names, line in imports(module, path):
            if not target.startswith("ethoflow"):
                continue
            for name in names:
                full = f"{target}.{name}"
                if is_module(full):
                    if package_of(full) != src:
                        aliases[name] = full
                    continue
                if name.startswith("_") and package_of(target) != src:
                    bad.append(f"{path.relative_to(REPO)}:{line}: imports {target}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    full = f"{resolve(module, path, node)}.{a.name}"
                    if a.asname and full in aliases.values():
                        aliases[a.asname] = full
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
            ):
                bad.append(
                    f"{path.relative_to(REPO)}:{node.lineno}: uses "
                    f"{aliases[node.value.id]}.{node.attr}"
                )
    assert not bad, "\n".join(bad)


def test_torch_only_where_declared():
    bad = []
    for module, path in MODULES.items():
        if module.startswith(TORCH_MODULES):
            continue
        for target, _, line in imports(module, path):
            if target.split(".")[0] in ("torch", "torchvision"):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {target}")
            if target.startswith(TORCH_MODULES) or (target == "ethoflow.tracking" and False):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {target} (torch)")
    assert not bad, "\n".join(bad)


def test_modules_and_functions_are_small():
    long = []
    for _, path in MODULES.items():
        text = path.read_text()
        n = len(text.splitlines())
        if n > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(REPO)}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length}")
    assert not long, "\n".join(long)


@pytest.mark.parametrize(
    "source",
    [
        "from ethoflow.labels.bootstrap.masks import _seeds\n",
        "from ethoflow.labels.bootstrap import masks as BM\nBM._seeds\n",
    ],
)
def test_the_private_name_check_catches(source, tmp_path, monkeypatch):
    """The checker itself: a private name imported or used from another package is found."""
    fake = PKG / "tracking" / "_layout_probe.py"
    assert not fake.exists()
    try:
        fake.write_text(source)
        MODULES["ethoflow.tracking._layout_probe"] = fake
        with pytest.raises(AssertionError, match="_seeds"):
            test_no_private_name_crosses_a_package()
    finally:
        MODULES.pop("ethoflow.tracking._layout_probe", None)
        fake.unlink(missing_ok=True)
