"""The per-rule conda environments (envs/*.yaml) can run their rules (`snakemake --sdm conda`).

Static checks only (no network, no conda): every rule with a script names an env that exists, and
that env lists every third-party distribution the script imports, followed through the ethoflow
package (and hubconf.py, which torch.hub runs when ethoflow.models loads a YOLACT family).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

# Provided by the running Snakemake (the `snakemake` object and its package) or by this repo.
NOT_THIRD_PARTY = {"__future__", "snakemake", "ethoflow", "hubconf"}

# Import name -> distributions that provide it (the first is the one to add when missing).
PROVIDERS: dict[str, tuple[str, ...]] = {
    "cv2": (
        "opencv-python-headless",
        "opencv-python",
        "opencv-contrib-python-headless",
        "opencv-contrib-python",
        "opencv",
        "py-opencv",
    ),
    "PIL": ("pillow",),
    "yaml": ("pyyaml",),
    "sklearn": ("scikit-learn",),
    "umap": ("umap-learn",),
    "torch": ("torch", "pytorch"),
    "pycocotools": ("pycocotools",),
    "motmetrics": ("motmetrics",),
    "av": ("av",),
    "pyarrow": ("pyarrow",),
    "pandas": ("pandas",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "matplotlib": ("matplotlib", "matplotlib-base"),
    "tqdm": ("tqdm",),
    "torchvision": ("torchvision",),
    "jsonschema": ("jsonschema",),
}

_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- rules -------------------------------------------------------------------------------------


def _directive_value(block: str, directive: str) -> str | None:
    m = re.search(rf"^\s+{directive}:\s*\n\s+[\"']([^\"']+)[\"']", block, re.M)
    return m.group(1) if m else None


def parse_rules() -> dict[str, dict]:
    """rule name -> {"file", "conda", "script"} (paths resolved against the .smk file's folder)."""
    rules = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = list(re.finditer(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M))
        for i, m in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            block = text[m.end() : end]
            # the block ends at the next top-level (unindented) statement
            top = re.search(r"^\S", block, re.M)
            block = block[: top.start()] if top else block
            conda, script = _directive_value(block, "conda"), _directive_value(block, "script")
            rules[m.group(1)] = {
                "file": smk.relative_to(REPO),
                "conda": (smk.parent / conda).resolve() if conda else None,
                "script": (smk.parent / script).resolve() if script else None,
            }
    return rules


RULES = parse_rules()
SCRIPT_RULES = sorted(r for r, info in RULES.items() if info["script"])


# --- imports -----------------------------------------------------------------------------------


def _module_file(module: str) -> Path | None:
    """The file of a dotted module under the repo (ethoflow.x.y, hubconf), or None."""
    base = REPO.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str:
    """The package a file's relative imports start from (its folder, as a dotted name)."""
    return ".".join(path.relative_to(REPO).parent.parts)


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(path: Path) -> set[str]:
    """Absolute dotted names of every module imported anywhere in a file (lazy imports too);
    for ``from X import name``, X.name as well (it may be a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = _package_of(path).split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                found.add(base)
            found.update(f"{base}.{a.name}" if base else a.name for a in node.names)
    return found


def walk_imports(script: Path) -> tuple[dict[str, set[str]], set[Path]]:
    """(top-level third-party import name -> repo files (relative) that import it, files read),
    following ethoflow.* (and hubconf.py once ethoflow.models is reached) transitively."""
    needed: dict[str, set[str]] = {}
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        modules = imported_modules(path)
        for module in modules:
            top = module.split(".")[0]
            if top in NOT_THIRD_PARTY:
                for dotted in _with_parents(module):
                    f = _module_file(dotted)
                    if f is not None:
                        todo.append(f)
                    if dotted == "ethoflow.models":  # loads YOLACT via torch.hub(REPO)
                        todo.append(REPO / "hubconf.py")
            elif top not in sys.stdlib_module_names:
                needed.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return needed, seen


def third_party_imports(script: Path) -> dict[str, set[str]]:
    return walk_imports(script)[0]


# --- envs --------------------------------------------------------------------------------------


def env_specs(env: dict) -> dict[str, str]:
    """Normalised distribution name -> its version spec ('' when unpinned), conda and pip."""
    specs: dict[str, str] = {}
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip") or []:
                try:
                    req = Requirement(str(pip_dep))
                except InvalidRequirement:  # -r file, -e path, URLs: not a named package
                    continue
                specs[norm(req.name)] = str(req.specifier)
        else:
            dep = str(dep).split("::")[-1]  # channel::name
            m = _CONDA_SPEC.match(dep)
            if m:
                specs[norm(m.group(1))] = m.group(2).replace(" ", "")
    return specs


def load_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def missing_distributions(needed: dict[str, set[str]], env: dict) -> dict[str, set[str]]:
    """Needed import names whose distribution the env does not list -> who imports them."""
    have = env_specs(env)
    missing = {}
    for module, importers in needed.items():
        providers = PROVIDERS.get(module, (module,))
        if not any(norm(p) in have for p in providers):
            missing[providers[0]] = importers
    return missing


# --- tests -------------------------------------------------------------------------------------


def test_rules_were_found():
    assert len(SCRIPT_RULES) >= 10, RULES
    assert {"train", "infer_shard", "track", "report"} <= set(SCRIPT_RULES)


@pytest.mark.parametrize("rule", SCRIPT_RULES)
def test_rule_env_lists_everything_its_script_imports(rule):
    info = RULES[rule]
    where = f"rule {rule} ({info['file']})"
    assert info["conda"] is not None, f"{where} has a script but no conda: env"
    env_path = info["conda"]
    env_rel = env_path.relative_to(REPO) if env_path.is_relative_to(REPO) else env_path
    assert env_path.is_file(), f"{where}: conda env {env_rel} does not exist"
    assert info["script"].is_file(), f"{where}: script {info['script']} does not exist"

    needed = third_party_imports(info["script"])
    assert needed, f"{where}: found no third-party imports at all (parser broken?)"
    missing = missing_distributions(needed, load_env(env_path))
    assert not missing, f"{where}: conda env {env_rel} lacks " + ", ".join(
        f"{dist} (imported by {', '.join(sorted(by))})" for dist, by in sorted(missing.items())
    )


def test_model_rules_reach_torch_through_hubconf():
    """The import walk does follow ethoflow.models and hubconf.py (guards the checker itself)."""
    for rule in ("train", "infer_shard", "evaluate_coco"):
        needed, files = walk_imports(RULES[rule]["script"])
        assert REPO / "hubconf.py" in files, rule
        assert REPO / "ethoflow" / "models" / "yolact" / "model.py" in files, rule
        assert {"torch", "torchvision"} <= set(needed), rule
    needed, files = walk_imports(RULES["track"]["script"])
    assert REPO / "hubconf.py" not in files and "torch" not in needed


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env_path", ENV_FILES, ids=lambda p: p.name)
def test_env_agrees_with_pyproject(env_path):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = env_specs(load_env(env_path))

    assert "python" in specs and specs["python"], f"{env_path.name}: no pinned python"
    py = specs["python"]
    m = re.fullmatch(r"=?=?(\d+(?:\.\d+)*)(?:\.\*)?", py)
    assert m, f"{env_path.name}: python pin {py!r} is not of the `python =3.11` kind"
    requires = SpecifierSet(project["requires-python"])
    assert m.group(1) in requires, (
        f"{env_path.name}: python {py} does not satisfy requires-python {requires}"
    )

    for dep in project["dependencies"]:
        req = Requirement(dep)
        pins = [s for s in req.specifier if s.operator == "=="]
        name = norm(req.name)
        if not pins or name not in specs:
            continue
        version = pins[0].version
        assert specs[name] in (f"=={version}", f"={version}"), (
            f"{env_path.name}: {req.name} is {specs[name] or 'unpinned'} there, "
            f"but pyproject.toml pins =={version}"
        )
