"""One name, one meaning: two module-level functions (or classes) of the package share a name only when
they are one idea by design, so a name read in one file means the same thing in every other.

Module level only: a method is read through its class (``runner.run``, ``doc.set``), and the
runtimes share method names on purpose (one interface). Cheap: parses the sources, imports nothing.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgekit"
API = "api.py"

# Names defined in several modules on purpose, and where. Besides these, two rules allow a repeat:
# a dunder (a protocol Python calls, e.g. a module's lazy ``__getattr__``), and a public verb of
# edgekit/api.py (see _verb_modules). Any other repeat is a namesake: rename it or share one function.
SAME_IDEA: dict[str, set[str]] = {
    # a process's entry point: the console script and the children started with `python -m`
    "main": {"cli/_app.py", "models/support.py", "runtime/_tflm_worker.py", "tuning/_worker.py"},
    # the block of each MobileNet family, named as in keras.applications so the two can be read side by
    # side (V3's adds squeeze-excite and hard-swish; the layer names follow each reference)
    "_inverted_res_block": {"models/mobilenet_v2.py", "models/mobilenet_v3.py"},
}


def _trees() -> dict[str, ast.Module]:
    return {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _classes(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef)}


def _module_file(dotted: str, trees: dict) -> str | None:
    """``edgekit.training.fit`` -> ``training/fit.py`` (or the package's ``__init__.py``)."""
    rel = dotted.split(".", 1)[1].replace(".", "/") if "." in dotted else ""
    return next((f for f in (f"{rel}.py", f"{rel}/__init__.py") if f in trees), None)


def _passes_on(fn: ast.FunctionDef, callee: str) -> bool:
    """A ``return`` of ``fn`` gives back what ``callee(...)`` returned (directly or through a name)."""
    def is_call(v):
        return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == callee
    bound = {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) and is_call(n.value)
             for t in n.targets if isinstance(t, ast.Name)}
    return any(is_call(r.value) or (isinstance(r.value, ast.Name) and r.value.id in bound)
               for r in ast.walk(fn) if isinstance(r, ast.Return))


def _verb_modules(name: str, trees: dict) -> set[str]:
    """Where a public verb of api.py may share its name: api.py itself, the CLI command that prints its
    record (``@app.command()`` under cli/), and the module whose function of that name the verb imports
    and returns the result of (api.py checks the arguments, the module does the work)."""
    verb = _functions(trees[API]).get(name)
    if verb is None or name.startswith("_"):
        return set()
    where = {API}
    for f, tree in trees.items():
        fn = _functions(tree).get(name)
        if f.startswith("cli/") and fn is not None and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
                for d in fn.decorator_list):
            where.add(f)
    for node in ast.walk(verb):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name == name and _passes_on(verb, alias.asname or alias.name):
                    where.add(_module_file(node.module, trees))
    return where - {None}


def test_no_two_module_functions_or_classes_share_a_name_unless_they_are_one_idea():
    trees = _trees()
    defined = defaultdict(set)
    for f, tree in trees.items():
        for name in (*_functions(tree), *_classes(tree)):
            defined[name].add(f)
    namesakes = {}
    for name, files in sorted(defined.items()):
        if len(files) < 2 or (name.startswith("__") and name.endswith("__")):
            continue
        stray = files - SAME_IDEA.get(name, set()) - _verb_modules(name, trees)
        if stray:
            namesakes[name] = sorted(files)
    assert not namesakes, f"same name, different functions (rename, or share one): {namesakes}"


def test_the_allowances_are_current():
    """The list names only functions that exist, and the verb rule finds the package's verbs."""
    trees = _trees()
    for name, files in SAME_IDEA.items():
        assert all(name in _functions(trees[f]) for f in files), name
    assert _verb_modules("train", trees) == {API, "cli/training.py", "training/fit.py"}
    assert _verb_modules("verify", trees) == {API, "cli/converting.py", "verification/__init__.py"}


def test_a_verb_shares_its_name_only_with_the_function_whose_result_it_returns():
    """A verb that builds its own result from a namesake's (bench's file of rows from one row each) makes
    the namesake no allowance: that one needs a name of its own."""
    trees = {
        API: ast.parse("def bench(files):\n"
                       "    from edgekit.benchmarking.harness import bench as _bench\n"
                       "    return BenchFile(results=[_bench(f) for f in files])\n"
                       "def train(name):\n"
                       "    from edgekit.training.fit import train as _train\n"
                       "    result = _train(name)\n"
                       "    return result\n"),
        "benchmarking/harness.py": ast.parse("def bench(path): ..."),
        "training/fit.py": ast.parse("def train(name): ..."),
    }
    assert _verb_modules("bench", trees) == {API}
    assert _verb_modules("train", trees) == {API, "training/fit.py"}
