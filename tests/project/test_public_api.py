"""Every public module declares its API in ``__all__``: names it defines, each function or class listed by one owner.

Public modules: ``sot_utils`` and every module below it whose dotted name has no part starting with
``_``, except packages whose ``__init__.py`` holds only a docstring. A module may list a function or
class defined elsewhere only if its docstring says it re-exports; the defining module lists it too.
"""

import ast
import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
import sys
import types
from collections import defaultdict
from pathlib import Path

import pytest

import sot_utils

PACKAGE = Path(sot_utils.__file__).parent
REPO = PACKAGE.parent
REEXPORT = re.compile(r"\bre-export", re.IGNORECASE)


def _docstring_only(path: Path) -> bool:
    """Whether a file holds nothing but (at most) a docstring."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def public_module_names(package: types.ModuleType) -> list[str]:
    """``package`` and its modules, at any depth, by the rule of the module docstring."""
    names = [package.__name__] + [info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    public = []
    for name in names:
        if any(part.startswith("_") for part in name.split(".")):
            continue
        origin = Path(importlib.util.find_spec(name).origin)
        if origin.name == "__init__.py" and _docstring_only(origin):
            continue
        public.append(name)
    return public


def defined_names(module: types.ModuleType) -> set[str]:
    """Names a module's source binds at its top level by ``def``, ``class`` or assignment (not by import)."""
    names = set()
    for node in ast.parse(Path(module.__file__).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def has_owner(value) -> bool:
    """Functions and classes name the module that defines them (``__module__``); constants do not."""
    return inspect.isfunction(value) or inspect.isclass(value)


def declares_reexports(module: types.ModuleType) -> bool:
    return bool(REEXPORT.search(module.__doc__ or ""))


def definition_problems(module: types.ModuleType) -> list[str]:
    """What is wrong with one module's ``__all__``: absent, repeated names, names not defined there."""
    name = module.__name__
    if not hasattr(module, "__all__"):
        return [f"{name} has no __all__"]
    listed = list(module.__all__)
    problems = [f"{name}.__all__ lists {n!r} twice" for n in sorted({n for n in listed if listed.count(n) > 1})]
    own = defined_names(module)
    for n in listed:
        if not hasattr(module, n):
            problems.append(f"{name}.__all__ lists {n!r}, which the module does not have")
            continue
        value = getattr(module, n)
        if has_owner(value):
            if value.__module__ != name and not declares_reexports(module):
                problems.append(
                    f"{name}.__all__ lists {n!r}, defined in {value.__module__} "
                    "(a re-export the module docstring does not declare)"
                )
        elif n not in own and not declares_reexports(module):
            problems.append(f"{name}.__all__ lists {n!r}, which the module imports rather than defines")
    return problems


def ownership_problems(modules: list[types.ModuleType]) -> list[str]:
    """Functions and classes listed by a module other than their own without a declared re-export, or
    re-exported without their own module listing them."""
    places = defaultdict(list)
    for module in modules:
        for n in getattr(module, "__all__", ()):
            value = getattr(module, n, None)
            if has_owner(value):
                places[id(value)].append((module, value))
    names = {module.__name__ for module in modules}
    problems = []
    for listings in places.values():
        value = listings[0][1]
        where = f"{value.__module__}.{value.__qualname__}"
        listed_by = [module.__name__ for module, _ in listings]
        if value.__module__ in names and value.__module__ not in listed_by:
            problems.append(f"{where} is listed by {', '.join(listed_by)} but not by its own module's __all__")
        for module, _ in listings:
            if module.__name__ != value.__module__ and not declares_reexports(module):
                problems.append(f"{where} is also listed by {module.__name__}, whose docstring declares no re-export")
    return problems


PUBLIC = public_module_names(sot_utils)


def test_the_public_modules_are_found():
    assert len(PUBLIC) > 30
    assert "sot_utils" in PUBLIC and "sot_utils.losses" in PUBLIC and "sot_utils.configs" in PUBLIC
    assert "sot_utils._wasserstein_kernel" not in PUBLIC  # private
    assert "sot_utils.study" not in PUBLIC and "sot_utils.training" not in PUBLIC  # docstring-only packages


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_module_lists_what_it_defines(name):
    problems = definition_problems(importlib.import_module(name))
    assert not problems, "\n".join(problems)


def test_every_function_and_class_has_one_owner():
    problems = ownership_problems([importlib.import_module(name) for name in PUBLIC])
    assert not problems, "\n".join(problems)


def _python_sources() -> list[tuple[str, str, str | None]]:
    """(label, source, package for relative imports) of the package, tests, benchmarks and notebook cells."""
    sources = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        sources.append((str(path.relative_to(REPO)), path.read_text(), package))
    for folder in ("tests", "benchmarks"):
        sources += [
            (str(path.relative_to(REPO)), path.read_text(), None) for path in sorted((REPO / folder).rglob("*.py"))
        ]
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
                sources.append((f"notebooks/{path.name} cell {i}", code, None))
    return sources


def test_names_used_elsewhere_and_command_lines_are_listed():
    """A name another module, a test, a benchmark or a notebook imports from a public module, and a
    ``main`` run by ``python -m``, are in that module's ``__all__`` (where the module defines them)."""
    public = {name: importlib.import_module(name) for name in PUBLIC}
    own = {name: defined_names(module) for name, module in public.items()}
    missing = set()
    for label, source, package in _python_sources():
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in public:
                continue
            for alias in node.names:
                n = alias.name
                if not n.startswith("_") and n in own[target] and n not in public[target].__all__:
                    missing.add(f"{target}.{n} (imported by {label})")
    for name, module in public.items():
        source = Path(module.__file__).read_text()
        if re.search(r'^if __name__ == "__main__":', source, re.MULTILINE) and "main" not in module.__all__:
            missing.add(f"{name}.main (run with python -m {name})")
    assert not missing, "not in __all__:\n" + "\n".join(sorted(missing))


def test_the_checks_catch_what_they_should(tmp_path, monkeypatch):
    """The oracles above are not vacuous: a missing ``__all__``, an imported name, an undeclared
    re-export and an owner that does not list its own function are flagged; a declared re-export is not."""
    package = tmp_path / "probe_api"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""Probe."""\nVERSION = 1\n')
    (package / "sub" / "__init__.py").write_text('"""Docstring only."""\n')
    (package / "_private.py").write_text("def hidden():\n    pass\n")
    (package / "owner.py").write_text(
        '__all__ = ["LIMIT", "f"]\nLIMIT = 3\n\n\ndef f():\n    pass\n\n\ndef g():\n    pass\n'
    )
    (package / "thief.py").write_text('from math import pi\nfrom .owner import f\n\n__all__ = ["f", "pi"]\n')
    (package / "facade.py").write_text('"""Re-exports f and g."""\nfrom .owner import f, g\n\n__all__ = ["f", "g"]\n')
    (package / "sub" / "bare.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        root = importlib.import_module("probe_api")
        names = public_module_names(root)
        assert names == ["probe_api", "probe_api.facade", "probe_api.owner", "probe_api.sub.bare", "probe_api.thief"]
        modules = {name: importlib.import_module(name) for name in names}
        assert definition_problems(modules["probe_api.owner"]) == []
        assert definition_problems(modules["probe_api.facade"]) == []
        assert definition_problems(modules["probe_api.sub.bare"]) == ["probe_api.sub.bare has no __all__"]
        assert definition_problems(modules["probe_api"]) == ["probe_api has no __all__"]
        thief = definition_problems(modules["probe_api.thief"])
        assert len(thief) == 2 and "'f', defined in probe_api.owner" in thief[0] and "'pi'" in thief[1]
        ownership = ownership_problems(list(modules.values()))
        assert ownership == [
            "probe_api.owner.f is also listed by probe_api.thief, whose docstring declares no re-export",
            "probe_api.owner.g is listed by probe_api.facade but not by its own module's __all__",
        ]
    finally:
        for name in [name for name in sys.modules if name == "probe_api" or name.startswith("probe_api.")]:
            del sys.modules[name]
