"""Rules for ``scores.scan`` and every other entry that takes one: a Python
expression, parsed and checked here, once per call of the entry.

The rule is read with :mod:`ast` and never evaluated. What the grammar allows
is checked when the expression is built, and the rule is handed to the Rust
plugin as a postfix program: one operation name per step, with its operand
(the number for ``const``, the input's index for ``input``). The plugin checks
the program again and compiles it to machine code.

Every value is a float; comparisons, ``and``, ``or`` and ``not`` make
booleans, which only conditions take. A bare name where a condition goes
(``prev if flag else 0``) is Python's truthiness of that float, ``flag != 0``
(NaN is true), so a Boolean input (read as 0.0 or 1.0) is a condition as is.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polars_scores._checks import ParameterError, ParameterTypeError, refuse

MAX_NODES = 1000
"""Rules with more expression nodes than this are refused."""

MAX_DEPTH = 100
"""Rules nested deeper than this are refused."""

CONSTANTS = {"inf": math.inf, "nan": math.nan}

UNARY_FUNCTIONS = ("abs", "sqrt", "exp", "log", "floor", "ceil")
"""Functions of one number; each is also the postfix operation's name."""

FOLDING_FUNCTIONS = ("min", "max")
"""Functions of two or more numbers, folded from the left like Python's."""

RESERVED = frozenset({"prev", "value", *CONSTANTS, *UNARY_FUNCTIONS, *FOLDING_FUNCTIONS})
"""Names an input cannot take."""

MAX_STATES = 64
"""Mapping rules with more states than this are refused."""

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_QUOTE = 60
"""Quoted parts of a rule are cut to this many characters."""


@dataclass(frozen=True)
class Program:
    """A checked rule in postfix: what the plugin's ``pl_scan`` reads. It
    leaves one number per state, in order."""

    ops: list[str]
    operands: list[float]
    states: tuple[str, ...] | None = None
    """The state names of a mapping rule, in its order; None for a
    one-expression rule (one state, ``prev``)."""

    @property
    def width(self) -> int:
        """The numbers in a state."""
        return 1 if self.states is None else len(self.states)

    @staticmethod
    def from_plain(plain: Mapping[str, Any] | None) -> Program | None:
        """The program that ``dataclasses.asdict`` gave (lists for tuples),
        checked already, not parsed again."""
        if plain is None:
            return None
        states = plain["states"]
        return Program(**{**plain, "states": None if states is None else tuple(states)})


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[: _QUOTE - 3] + "...")


def _refuse(method: str, rule: str, problem: str, node: ast.AST | None = None) -> ParameterError:
    part = ast.get_source_segment(rule, node) if node is not None else None
    where = f": {_quote(part)}" if part else ""
    return refuse(ParameterError, method, f"{problem} in rule {_quote(rule)}{where}")


def check_input_names(method: str, names: Sequence[object]) -> list[str]:
    """The names of ``inputs``, each a Python identifier the rule can use."""
    checked = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise refuse(ParameterError, method, f"input name {name!r} is not a Python identifier")
        if name in RESERVED:
            raise refuse(
                ParameterError,
                method,
                f"input name {name!r} is taken: prev, value, inf, nan and the "
                f"functions {', '.join(UNARY_FUNCTIONS + FOLDING_FUNCTIONS)} cannot be inputs",
            )
        checked.append(name)
    return checked


def parse_rule(rule: object, inputs: Sequence[str] = (), *, method: str) -> Program:
    """Checks ``rule`` against the grammar and returns its postfix program.

    ``rule`` is one expression over ``prev``, or a mapping of state names to
    expressions, each over every state (as it was before the row): the
    states update at once, as Python's ``a, b = (e1, e2)``. ``inputs`` are
    the names of the extra columns, in the order the plugin receives them.
    Anything outside the grammar is a ``ValueError`` naming `method`, the
    function or command the user called, and quoting the offending part.

    Examples
    --------
    >>> parse_rule("prev * 0.5 + value", method="scores.scan").ops
    ['prev', 'const', 'mul', 'value', 'add']
    >>> parse_rule("prev + dt", ["dt"], method="scores.scan").ops
    ['prev', 'input', 'add']
    >>> program = parse_rule({"n": "n + 1", "peak": "max(peak, value)"}, method="scores.scan")
    >>> program.ops, program.states
    (['state', 'const', 'add', 'state', 'value', 'max'], ('n', 'peak'))
    >>> program.operands
    [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    """
    if isinstance(rule, Mapping):
        return _parse_states(rule, inputs, method=method)
    if not isinstance(rule, str):
        raise refuse(
            ParameterTypeError,
            method,
            f"rule must be a string or a mapping of state names to strings, "
            f"got {type(rule).__name__} {rule!r}",
        )
    return _parse_expression(rule, inputs, {"prev": 0}, method=method)


_NAMED = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)(.*)", re.DOTALL)
"""``NAME=EXPR``: a name, then one ``=`` (``==`` is a comparison, never this)."""


def rule_from_options(method: str, texts: Sequence[str]) -> str | dict[str, str] | None:
    """The rule that repeated ``--rule`` options give: none, one expression
    (one option without ``NAME=``), or a mapping (every option ``NAME=EXPR``).

    Examples
    --------
    >>> rule_from_options("score", ["prev == value"])
    'prev == value'
    >>> rule_from_options("score", ["hi=max(hi, value)", "n = n + 1"])
    {'hi': 'max(hi, value)', 'n': 'n + 1'}
    """
    if not texts:
        return None
    named = [_NAMED.fullmatch(text) for text in texts]
    if len(texts) == 1 and named[0] is None:
        return texts[0]
    unnamed = [text for text, match in zip(texts, named, strict=True) if match is None]
    if unnamed:
        raise refuse(
            ParameterError,
            method,
            f"--rule {unnamed[0]!r} has no NAME=: with several --rule options, each is "
            "NAME=EXPR, one per state",
        )
    rule: dict[str, str] = {}
    for name, expression in (match.groups() for match in named if match is not None):
        if name in rule:
            raise refuse(ParameterError, method, f"--rule gives state {name!r} twice")
        rule[name] = expression.strip()
    return rule


def _parse_states(rule: Mapping[object, object], inputs: Sequence[str], *, method: str) -> Program:
    """The program of a mapping rule: each state's expression in turn."""
    if not rule:
        raise refuse(ParameterError, method, "a mapping rule needs at least one state")
    if len(rule) > MAX_STATES:
        raise refuse(
            ParameterError, method, f"a rule has at most {MAX_STATES} states, got {len(rule)}"
        )
    states = check_state_names(method, list(rule), inputs)
    ops: list[str] = []
    operands: list[float] = []
    indexes = {name: index for index, name in enumerate(states)}
    for name, expression in rule.items():
        if not isinstance(expression, str):
            raise refuse(
                ParameterTypeError,
                method,
                f"the rule of state {name!r} must be a string, "
                f"got {type(expression).__name__} {expression!r}",
            )
        part = _parse_expression(expression, inputs, indexes, method=method)
        ops.extend(part.ops)
        operands.extend(part.operands)
    return Program(ops, operands, tuple(states))


def check_state_names(method: str, names: Sequence[object], inputs: Sequence[str]) -> list[str]:
    """The state names of a mapping rule, each a Python identifier that is
    not ``value``, an input, a function, ``inf`` or ``nan``."""
    checked = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise refuse(ParameterError, method, f"state name {name!r} is not a Python identifier")
        if name in RESERVED - {"prev"} or name in inputs:
            raise refuse(
                ParameterError,
                method,
                f"state name {name!r} is taken: value, the inputs, inf, nan and the "
                f"functions {', '.join(UNARY_FUNCTIONS + FOLDING_FUNCTIONS)} cannot be states",
            )
        checked.append(name)
    return checked


def _parse_expression(
    rule: str, inputs: Sequence[str], states: Mapping[str, int], *, method: str
) -> Program:
    """The program of one expression, over `states` (name to index)."""
    try:
        tree = ast.parse(rule.strip(), mode="eval")
    except (SyntaxError, ValueError) as error:
        reason = error.msg if isinstance(error, SyntaxError) else str(error)
        raise _refuse(method, rule, f"not a Python expression ({reason})") from None
    except (RecursionError, MemoryError):
        raise _refuse(
            method, rule, f"more than {MAX_NODES} nodes or nested deeper than {MAX_DEPTH}"
        ) from None
    _check_size(method, rule.strip(), tree.body)
    return _Emitter(method, rule.strip(), list(inputs), states).program(tree.body)


def _check_size(method: str, rule: str, root: ast.expr) -> None:
    """Refuses big or deep rules before anything recursive walks them (both
    walks keep their own stack)."""
    if sum(isinstance(node, ast.expr) for node in ast.walk(root)) > MAX_NODES:
        raise _refuse(method, rule, f"more than {MAX_NODES} nodes")
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr):
            if depth > MAX_DEPTH:
                raise _refuse(method, rule, f"nested deeper than {MAX_DEPTH}", node)
            depth += 1
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))


class _Emitter:
    """Writes a checked rule in postfix, number and condition apart."""

    def __init__(
        self, method: str, rule: str, inputs: list[str], states: Mapping[str, int]
    ) -> None:
        self.method = method
        self.rule = rule
        self.inputs = {name: index for index, name in enumerate(inputs)}
        self.states = states
        self.ops: list[str] = []
        self.operands: list[float] = []

    def program(self, root: ast.expr) -> Program:
        self.number(root)
        return Program(self.ops, self.operands)

    def emit(self, op: str, operand: float = 0.0) -> None:
        self.ops.append(op)
        self.operands.append(operand)

    def refuse(self, problem: str, node: ast.AST) -> ParameterError:
        return _refuse(self.method, self.rule, problem, node)

    def number(self, node: ast.expr) -> None:
        """Emits `node`, which must make a number."""
        if isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
            self.unary(node)
        elif isinstance(node, ast.BinOp):
            self.binary(node)
        elif isinstance(node, ast.IfExp):
            self.conditional(node)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Compare) and not all(type(op) in _COMPARE for op in node.ops):
            self.comparison(node)  # refuses the comparison operator by name
        elif isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            raise self.refuse("a condition (true or false) used as a number", node)
        else:
            raise self.refuse(f"{_describe(node)} is not allowed", node)

    def condition(self, node: ast.expr) -> None:
        """Emits `node`, which must make a boolean."""
        if isinstance(node, ast.Compare):
            self.comparison(node)
        elif isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            self.condition(node.values[0])
            for operand in node.values[1:]:
                self.condition(operand)
                self.emit(op)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.condition(node.operand)
            self.emit("not")
        elif isinstance(node, ast.Name):
            self.name(node)
            self.emit("const", 0.0)
            self.emit("ne")
        elif isinstance(node, (ast.BinOp, ast.IfExp, ast.Call, ast.UnaryOp)) or (
            isinstance(node, ast.Constant) and type(node.value) in (int, float)
        ):
            raise self.refuse("a number used as a condition (compare it with something)", node)
        else:
            raise self.refuse(f"{_describe(node)} is not allowed", node)

    def comparison(self, node: ast.Compare) -> None:
        # `a < b < c` is `a < b and b < c`, as in Python (b has no side effects).
        left = node.left
        for index, (op, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            name = _COMPARE.get(type(op))
            if name is None:
                raise self.refuse(f"the comparison '{_describe(op)}' is not allowed", node)
            self.number(left)
            self.number(right)
            self.emit(name)
            if index > 0:
                self.emit("and")
            left = right

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(f"the constant {value!r} is not a number", node)
        try:
            self.emit("const", float(value))
        except OverflowError:
            raise self.refuse("an integer too large for a float", node) from None

    def name(self, node: ast.Name) -> None:
        if list(self.states) == ["prev"] and node.id == "prev":
            self.emit("prev")
        elif node.id in self.states:
            self.emit("state", float(self.states[node.id]))
        elif node.id == "value":
            self.emit("value")
        elif node.id in CONSTANTS:
            self.emit("const", CONSTANTS[node.id])
        elif node.id in self.inputs:
            self.emit("input", float(self.inputs[node.id]))
        elif node.id in UNARY_FUNCTIONS or node.id in FOLDING_FUNCTIONS:
            raise self.refuse(f"the function {node.id} must be called", node)
        else:
            known = ", ".join([*self.states, "value", *self.inputs])
            raise self.refuse(f"unknown name '{node.id}' (known: {known}, inf, nan)", node)

    def unary(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.UAdd):
            self.number(node.operand)  # +x is x, bit for bit
        elif isinstance(node.op, ast.USub):
            self.number(node.operand)
            self.emit("neg")
        else:
            raise self.refuse(f"the operator '{_describe(node.op)}' is not allowed", node)

    def binary(self, node: ast.BinOp) -> None:
        name = _BINARY.get(type(node.op))
        if name is None:
            raise self.refuse(f"the operator '{_describe(node.op)}' is not allowed", node)
        self.number(node.left)
        self.number(node.right)
        self.emit(name)

    def conditional(self, node: ast.IfExp) -> None:
        self.number(node.body)
        self.number(node.orelse)
        self.condition(node.test)
        self.emit("select")

    def call(self, node: ast.Call) -> None:
        function = node.func.id if isinstance(node.func, ast.Name) else ""
        if function not in UNARY_FUNCTIONS and function not in FOLDING_FUNCTIONS:
            allowed = ", ".join(UNARY_FUNCTIONS + FOLDING_FUNCTIONS)
            raise self.refuse(f"only calls to {allowed} are allowed", node)
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.refuse(f"{function}() takes plain arguments only", node)
        if function in UNARY_FUNCTIONS:
            if len(node.args) != 1:
                raise self.refuse(f"{function}() takes exactly one argument", node)
            self.number(node.args[0])
            self.emit(function)
            return
        if len(node.args) < 2:
            raise self.refuse(f"{function}() takes two or more arguments", node)
        self.number(node.args[0])
        for arg in node.args[1:]:
            self.number(arg)
            self.emit(function)


def _describe(node: ast.AST) -> str:
    """What a refused node is, in words."""
    words = {
        ast.Attribute: "an attribute",
        ast.Subscript: "a subscript",
        ast.Lambda: "a lambda",
        ast.NamedExpr: "an assignment",
        ast.JoinedStr: "a string",
        ast.List: "a list",
        ast.Tuple: "a tuple (more than one expression)",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.Starred: "a starred expression",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Mod: "%",
        ast.FloorDiv: "//",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.BitAnd: "&",
        ast.Invert: "~",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Not: "not",
    }
    return words.get(type(node), type(node).__name__)
