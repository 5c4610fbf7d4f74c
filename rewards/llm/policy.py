r"""The AST allow-list that LLM-written reward code must pass before it is ever run.

This is the first of the sandbox's layers (the worker process and its limits are the
others): it rejects, with a reason per problem, any syntax outside a small arithmetic
subset of Python, imports other than ``math`` and ``numpy``, names such as ``open``,
``eval`` or ``getattr``, and attribute access to dunders, private names, frames or
numpy's file functions.

Example:
    >>> check_code("import math\ndef reward(obs, action, next_obs, info):\n"
    ...            "    return math.sin(3 * next_obs[0])")
    []
    >>> check_code("import os\ndef reward(obs, action, next_obs, info):\n    return 0.0")
    ["line 1: import of 'os' is not allowed (only math and numpy)"]
"""

from __future__ import annotations

import ast
import functools
import pkgutil
import types
from collections.abc import Sequence

#: Modules the code may import, and the names it may bind them to.
ALLOWED_IMPORTS = {"math": {"math"}, "numpy": {"numpy", "np"}}
#: numpy submodules the code may reach (everything else on ``np`` that is a module is refused).
ALLOWED_NUMPY_SUBMODULES = frozenset({"random", "linalg"})
#: Longest accepted source, in characters.
MAX_SOURCE_CHARS = 20_000
#: Deepest syntax tree accepted; the allow-list's checker recurses once per level.
MAX_AST_DEPTH = 100

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module, ast.Expr, ast.Import, ast.ImportFrom, ast.alias, ast.FunctionDef,
    ast.arguments, ast.arg, ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If,
    ast.For, ast.While, ast.Break, ast.Continue, ast.Pass, ast.Assert, ast.BoolOp,
    ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.keyword, ast.IfExp, ast.Lambda,
    ast.NamedExpr, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.Starred,
    ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.expr_context, ast.operator,
    ast.boolop, ast.unaryop, ast.cmpop,
)  # fmt: skip

_NODE_REASONS = {
    ast.ClassDef: "class definitions",
    ast.Try: "try/except (errors must reach the sandbox)",
    ast.With: "with statements",
    ast.Global: "global statements",
    ast.Nonlocal: "nonlocal statements",
    ast.Raise: "raise statements",
    ast.Delete: "del statements",
    ast.Yield: "generators (yield)",
    ast.YieldFrom: "generators (yield from)",
    ast.JoinedStr: "f-strings",
    ast.AsyncFunctionDef: "async code",
    ast.Await: "async code",
}

#: Names the code may not use, even as its own variables.
FORBIDDEN_NAMES = frozenset(
    """eval exec compile open __import__ globals locals vars getattr setattr delattr
    hasattr input breakpoint help memoryview type object super classmethod staticmethod
    property dir exit quit print id issubclass os sys subprocess socket builtins
    importlib ctypes signal resource shutil pathlib pickle marshal threading
    multiprocessing""".split()
)

#: Attribute names refused on any object (I/O, frames, introspection, module hops).
FORBIDDEN_ATTRIBUTES = frozenset(
    """format format_map mro tofile dump dumps ctypes save savez savez_compressed savetxt
    load loadtxt fromfile genfromtxt fromregex memmap lib ctypeslib testing f2py distutils
    DataSource show_config show_runtime info gi_frame gi_code gi_yieldfrom cr_frame
    cr_code ag_frame ag_code f_globals f_locals f_builtins f_back f_code tb_frame tb_next
    co_code func_globals os sys system popen exec eval open compile builtins modules
    core char rec emath polynomial fft ma typing""".split()
)


class CodeRejected(ValueError):
    """Reward code failed the allow-list (or its trial run); ``problems`` says why."""

    def __init__(self, problems: Sequence[str] | str):
        if isinstance(problems, str):  # an already formatted message (e.g. re-raised)
            self.problems = [problems]
            super().__init__(problems)
        else:
            self.problems = list(problems)
            super().__init__("reward code rejected: " + "; ".join(self.problems))


@functools.cache
def _numpy_module_attributes() -> frozenset[str]:
    # Listed from the package folder: getattr on numpy would import every lazy submodule.
    import numpy

    names = {info.name for info in pkgutil.iter_modules(numpy.__path__)}
    names |= {name for name in dir(numpy) if isinstance(vars(numpy).get(name), types.ModuleType)}
    return frozenset(names)


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.numpy_aliases: set[str] = {"np", "numpy"}
        self._numpy_modules = _numpy_module_attributes()

    def problem(self, node: ast.AST, text: str) -> None:
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {text}")

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            reason = next(
                (r for kind, r in _NODE_REASONS.items() if isinstance(node, kind)),
                type(node).__name__,
            )
            self.problem(node, f"{reason} not allowed")
            return
        super().generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            allowed = ALLOWED_IMPORTS.get(alias.name)
            if allowed is None:
                self.problem(node, f"import of {alias.name!r} is not allowed (only math and numpy)")
            elif (alias.asname or alias.name) not in allowed:
                self.problem(node, f"import {alias.name} may only be bound to {sorted(allowed)}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or node.module not in ALLOWED_IMPORTS:
            self.problem(node, f"import from {node.module!r} is not allowed (only math and numpy)")
            return
        for alias in node.names:
            if alias.name == "*":
                self.problem(node, "star imports are not allowed")
            else:
                self._check_attribute_name(node, alias.name, numpy=node.module == "numpy")
                self._check_name(node, alias.asname or alias.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            self.problem(node, "decorators are not allowed")
        self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        on_numpy = isinstance(node.value, ast.Name) and node.value.id in self.numpy_aliases
        self._check_attribute_name(node, node.attr, numpy=on_numpy)
        self.generic_visit(node)

    def _check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("__") or name in FORBIDDEN_NAMES:
            self.problem(node, f"name {name!r} is not allowed")

    def _check_attribute_name(self, node: ast.AST, attr: str, numpy: bool) -> None:
        if attr.startswith("_"):
            self.problem(node, f"access to the underscore attribute {attr!r} is not allowed")
        elif attr in FORBIDDEN_ATTRIBUTES:
            self.problem(node, f"attribute {attr!r} is not allowed")
        elif numpy and attr in self._numpy_modules and attr not in ALLOWED_NUMPY_SUBMODULES:
            self.problem(node, f"numpy submodule {attr!r} is not allowed")


def _depth(tree: ast.AST) -> int:
    """The depth of a syntax tree, measured without recursion (the checker recurses)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_AST_DEPTH:  # no need to walk further than the limit
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def check_code(source: str, function: str = "reward", n_args: int = 4) -> list[str]:
    r"""Return the reasons ``source`` is refused (an empty list means it passes).

    Args:
        source: Python source that must define ``function``.
        function: name of the function the sandbox will call.
        n_args: number of positional arguments ``function`` must take.

    Returns:
        One human-readable problem per violation, with its line number.

    Example:
        >>> check_code("def reward(o, a, n, i):\n    return ().__class__")
        ["line 2: access to the underscore attribute '__class__' is not allowed"]
    """
    if not isinstance(source, str):
        return [f"code must be a string, got {type(source).__name__}"]
    if len(source) > MAX_SOURCE_CHARS:
        return [f"code is longer than {MAX_SOURCE_CHARS} characters"]
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return [f"line {error.lineno}: syntax error: {error.msg}"]
    except (RecursionError, MemoryError):  # the C parser's own limits on nesting
        return ["code is nested too deeply to parse"]
    depth = _depth(tree)
    if depth > MAX_AST_DEPTH:
        return [f"code is nested too deeply ({depth} levels; at most {MAX_AST_DEPTH})"]
    checker = _Checker()
    checker.visit(tree)
    problems = checker.problems
    for statement in tree.body:
        if not isinstance(
            statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.Expr)
        ):
            problems.append(
                f"line {statement.lineno}: only imports, functions and constant assignments "
                "are allowed at the top level"
            )
        elif isinstance(statement, ast.Expr) and not isinstance(statement.value, ast.Constant):
            problems.append(f"line {statement.lineno}: top-level expressions are not allowed")
    defined = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == function]
    if not defined:
        problems.append(f"no top-level function {function!r}")
    else:
        arguments = defined[-1].args
        positional = len(arguments.posonlyargs) + len(arguments.args)
        if positional != n_args or arguments.vararg or arguments.kwonlyargs:
            problems.append(
                f"{function}() must take exactly {n_args} positional arguments "
                "(obs, action, next_obs, info)"
            )
    return problems


def validate_code(source: str, function: str = "reward", n_args: int = 4) -> None:
    """Raise :class:`CodeRejected` unless ``source`` passes :func:`check_code`."""
    problems = check_code(source, function=function, n_args=n_args)
    if problems:
        raise CodeRejected(problems)
