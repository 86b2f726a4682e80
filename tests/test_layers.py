"""The layer contract of DESIGN.md: imports point down, no hidden imports or env reads."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "theanine"

LAYERS = {
    "config": 0,
    "graph": 1,
    "scalar": 2, "tensor": 2, "gradient": 2,
    "ifelse": 3, "scan": 3,
    "link": 4,
    "compile": 5, "printing": 5, "debug": 5, "sharding": 5,
    "compat": 6,
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "theanine" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield name, path


def imports(tree):
    """``(node, module name)`` of every absolute import in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name


@pytest.mark.parametrize("name,path", list(modules()), ids=lambda v: str(v))
def test_imports_point_down_and_stay_at_module_level(name, path):
    own = layer_of(name)
    tree = ast.parse(path.read_text())
    top_level = set(id(n) for n in tree.body)
    problems = []
    for node, target in imports(tree):
        if not target.startswith("theanine"):
            continue
        if id(node) not in top_level and not _inside_type_checking(tree, node):
            problems.append(f"line {node.lineno}: import of {target} inside a function")
        dep = layer_of(target)
        if own is not None and dep is not None and dep > own:
            problems.append(f"line {node.lineno}: layer {own} imports {target} "
                            f"(layer {dep})")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def _inside_type_checking(tree, target) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            if any(child is target for child in ast.walk(node)):
                return True
    return False


def test_environment_is_read_in_config_only():
    offenders = []
    for name, path in modules():
        if name == "theanine.config":
            continue
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            offenders.append(name)
    assert not offenders, offenders


def test_no_import_cycle_between_packages():
    """Packages of one layer may use each other in one direction only (the tensor
    package offers ``T.grad`` from its own gradient subpackage, so ``theanine.gradient``
    -> ``theanine.tensor`` is the only edge between them)."""
    edges: dict[str, set] = {}
    for name, path in modules():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in LAYERS:
            continue
        for _, target in imports(ast.parse(path.read_text())):
            tparts = target.split(".")
            if tparts[0] == "theanine" and len(tparts) > 1 and tparts[1] in LAYERS \
                    and tparts[1] != parts[1]:
                edges.setdefault(parts[1], set()).add(tparts[1])
    state: dict = {}

    def visit(pkg, path):
        state[pkg] = 1
        for dep in sorted(edges.get(pkg, ())):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [pkg, dep]))
            if dep not in state:
                visit(dep, path + [pkg])
        state[pkg] = 2

    for pkg in sorted(edges):
        if pkg not in state:
            visit(pkg, [])
