"""Robust parsing of reasoning steps: numbers, final answers and stated equations.

Agents (LLMs especially) write numbers with thousands separators, currency signs,
units, markdown and trailing periods; GSM8K writes ``#### 42`` and calculator
annotations ``<<48/2=24>>``. Everything here returns ``None`` (or an empty list)
instead of raising, so a malformed step can be flagged rather than crash a run.

Example:
    >>> parse_answer("The answer is $1,250.")
    (True, Fraction(1250, 1))
    >>> [(render(eq.expr), eq.stated, eq.correct) for eq in parse_equations("Total: 3 * 4 = 13")]
    [('3 * 4', Fraction(13, 1), False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from densegym.envs.reasoning.expr import Bin, Expr, Num, evaluate, format_number, render

__all__ = [
    "Equation",
    "expression_problem",
    "normalize",
    "parse_answer",
    "parse_equations",
    "parse_expression",
    "parse_number",
    "render",
    "strip_annotations",
]

# An unsigned number: thousands groups (1,234,567) or plain digits, optional decimals.
_UNSIGNED = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
# Scientific notation after a number ("1e3", "2.5E-4"); a bigger exponent is unreadable.
_EXPONENT = r"(?P<exp>[eE][-+]?\d+)?(?![\w.])"
_MAX_EXPONENT = 308
_NUMBER_RE = re.compile(
    rf"(?P<sign>-)?\s*\$?\s*(?P<whole>{_UNSIGNED})(?:{_EXPONENT})?"
    r"(?:\s+(?P<mnum>\d+)\s*/\s*(?P<mden>\d+)(?![\d.])|\s*/\s*(?P<den>\d+)(?![\d.]))?"
)
# The number right after an '=': attached fractions only ("= 13/4"), so that in
# "3 * 4 = 12 / 2 = 6" the first result stays 12.
_RESULT_RE = re.compile(
    rf"\s*(?P<sign>-)?\s*\$?\s*(?P<whole>{_UNSIGNED})(?:{_EXPONENT})?(?:/(?P<den>\d+))?"
)
# A hexadecimal literal ("0x10"): not a number a step may state (it is not read as 0 or 16).
_HEX_RE = re.compile(r"(?<![\w.])0[xX][0-9a-fA-F]+\b")
_ANSWER_RE = re.compile(
    r"####|\\boxed\s*\{|\banswer\s*(?:\*\*|__)?\s*(?:is\b|:|=)", flags=re.IGNORECASE
)
_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")
_EQUALS_RE = re.compile(r"(?<![=<>!])=(?![=>])")
_TIMES_RE = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d($])")
_TOKEN_RE = re.compile(rf"(?P<num>{_UNSIGNED})|(?P<op>[-+*/()%])|(?P<bad>\S)")
_EXPR_CHARS = frozenset("0123456789.,+-*/()% $")
_REPLACEMENTS = (
    ("\u2212", "-"),  # minus sign
    ("\u2013", "-"),  # en dash
    ("\u2014", "-"),  # em dash
    ("\u00d7", "*"),  # multiplication sign
    ("\u00b7", "*"),  # middle dot
    ("\u22c5", "*"),  # dot operator
    ("\u2217", "*"),  # asterisk operator
    ("\u00f7", "/"),  # division sign
    ("\u2044", "/"),  # fraction slash
    ("\\times", "*"),
    ("\\cdot", "*"),
    ("\\div", "/"),
    ("\\$", "$"),
    ("**", ""),  # markdown bold
    ("__", ""),
    ("`", ""),
)
_FRAC_RE = re.compile(r"\\d?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


@dataclass(frozen=True)
class Equation:
    """One computation stated in a step: ``expr = stated``.

    Attributes:
        expr: the left-hand side, a tree of numbers.
        stated: the result the step claims.
        value: the true value of ``expr`` (``None`` on division by zero).
    """

    expr: Expr
    stated: Fraction
    value: Fraction | None

    @property
    def correct(self) -> bool:
        """Whether the stated result is the true value."""
        return self.value is not None and self.value == self.stated

    def __str__(self) -> str:
        return f"{render(self.expr)} = {format_number(self.stated)}"


def strip_annotations(text: str) -> str:
    """Remove GSM8K calculator annotations ``<<48/2=24>>``.

    Example:
        >>> strip_annotations("She sold 48/2 = <<48/2=24>>24 clips.")
        'She sold 48/2 = 24 clips.'
    """
    return _ANNOTATION_RE.sub("", text)


def normalize(text: str) -> str:
    r"""Map unicode and LaTeX operators to ASCII and drop markdown emphasis.

    Example:
        >>> normalize("3 × 4 − 2 ÷ 1 and 5x6 and \\frac{1}{2}")
        '3 * 4 - 2 / 1 and 5 * 6 and (1)/(2)'
    """
    for old, new in _REPLACEMENTS:
        if old in text:
            text = text.replace(old, new)
    if "frac" in text:
        text = _FRAC_RE.sub(r"(\1)/(\2)", text)
    if "x" in text or "X" in text:
        text = _TIMES_RE.sub(" * ", text)
    return text


def _number_from_match(match: re.Match[str]) -> Fraction | None:
    """The number a match states; ``None`` for a zero denominator or a huge exponent."""
    whole = match["whole"].replace(",", "")
    value = Fraction(int(whole)) if whole.isdigit() else Fraction(whole)
    groups = match.groupdict()
    if groups.get("exp"):
        exponent = int(groups["exp"][1:])
        if abs(exponent) > _MAX_EXPONENT:
            return None
        value *= Fraction(10) ** exponent
    if groups.get("mnum"):
        if int(groups["mden"]) == 0 or value.denominator != 1:
            return None
        value += Fraction(int(groups["mnum"]), int(groups["mden"]))
    elif groups.get("den"):
        if int(groups["den"]) == 0:  # "7/0" states no number (it is not 7)
            return None
        value /= int(groups["den"])
    return -value if match["sign"] else value


def parse_number(text: str) -> Fraction | None:
    """Return the first number in ``text``, or ``None``.

    Understands signs, ``$``, thousands separators, decimals, scientific notation
    (``1e3``), fractions (``3/4``) and mixed numbers (``1 1/2``); trailing units and
    periods are ignored. A zero denominator (``7/0``), an exponent beyond 308 or a
    hexadecimal literal (``0x10``) states no number.

    Example:
        >>> [parse_number(t) for t in ["-12 apples.", "$1,234.50", "3/4", "1 1/2 cups", "none"]]
        [Fraction(-12, 1), Fraction(2469, 2), Fraction(3, 4), Fraction(3, 2), None]
        >>> [parse_number(t) for t in ["1e3", "2.5E-1", "7/0", "0x10"]]
        [Fraction(1000, 1), Fraction(1, 4), None, None]
    """
    if not isinstance(text, str):
        return None
    if "0x" in text or "0X" in text:
        text = _HEX_RE.sub(" \0 ", text)  # a marker no number pattern matches
    text = normalize(text).replace("{", " ").replace("}", " ")
    match = _NUMBER_RE.search(text)
    hex_at = text.find("\0")
    if hex_at != -1 and (match is None or hex_at < match.start()):
        return None
    return None if match is None else _number_from_match(match)


def parse_answer(text: str) -> tuple[bool, Fraction | None]:
    r"""Find a final answer: ``Answer: 12``, ``The answer is 12.``, ``#### 12``, ``\boxed{12}``.

    Returns:
        ``(has_marker, value)``: whether the text states a final answer at all, and
        its number (``None`` when the marker has no readable number). When the text
        after the marker contains ``=``, the number after the last ``=`` is taken
        (``Answer: 3 + 4 = 7`` gives 7).

    Example:
        >>> parse_answer("Answer: 3 + 4 = 7"), parse_answer("#### -5"), parse_answer("3 * 4 = 12")
        ((True, Fraction(7, 1)), (True, Fraction(-5, 1)), (False, None))
        >>> parse_answer("Answer: I don't know")
        (True, None)
    """
    if not isinstance(text, str):
        return False, None
    markers = list(_ANSWER_RE.finditer(text))
    if not markers:
        return False, None
    rest = strip_annotations(text[markers[-1].end() :])
    equals = list(_EQUALS_RE.finditer(rest))
    if equals:
        rest = rest[equals[-1].end() :]
    return True, parse_number(rest)


#: Deepest nesting (parentheses plus prefix signs) an expression may have; deeper is invalid.
MAX_DEPTH = 32
#: Most tokens one expression may have (bounds the tree, so evaluating it cannot recurse deeply).
MAX_TOKENS = 256


def _nesting(tokens: list[tuple[str, str]]) -> int:
    """The deepest nesting of parentheses and prefix signs in a token list (no recursion)."""
    depth = deepest = signs = 0
    previous = None
    for kind, text in tokens:
        if kind == "op" and text in "+-" and (previous is None or previous[1] in "(+-*/"):
            signs += 1  # a prefix sign: one more level of the parser's recursion
        elif text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            signs = 0
        elif kind == "num":
            signs = 0
        deepest = max(deepest, depth + signs)
        previous = (kind, text)
    return deepest


def expression_problem(text: str) -> str:
    """Why the arithmetic in ``text`` is too complex to read, or ``""`` when it is not.

    The parser cannot recurse without bound: an expression nested deeper than
    :data:`MAX_DEPTH` or longer than :data:`MAX_TOKENS` tokens is not read at all, and a
    step holding one is flagged invalid with this reason.

    Example:
        >>> expression_problem("-(" * 197 + "1 = 1")
        'expression nested too deeply (394 levels; at most 32)'
        >>> expression_problem("(2 + 3) * 4 = 20")
        ''
    """
    if not isinstance(text, str):
        return ""
    runs: list[list[tuple[str, str]]] = [[]]
    for kind, token in _scan(normalize(text)):
        if kind == "bad":  # prose between expressions
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((kind, token))
    deepest = max(_nesting(run) for run in runs)
    if deepest > MAX_DEPTH:
        return f"expression nested too deeply ({deepest} levels; at most {MAX_DEPTH})"
    longest = max(len(run) for run in runs)
    if longest > MAX_TOKENS:
        return f"expression too long ({longest} tokens; at most {MAX_TOKENS})"
    return ""


def _scan(text: str) -> list[tuple[str, str]]:
    """Every token of ``text``, unknown characters as ``("bad", char)``."""
    out = []
    for match in _TOKEN_RE.finditer(text.replace("$", " ")):
        kind = "num" if match["num"] is not None else "op" if match["op"] is not None else "bad"
        out.append((kind, match[kind]))
    return out


class _Parser:
    """Recursive descent over number/operator tokens (exact, no eval), depth-limited.

    The recursion goes one level deeper per parenthesis and per prefix sign; beyond
    :data:`MAX_DEPTH` levels, or with more than :data:`MAX_TOKENS` tokens, the parse
    fails (returns ``None``) instead of exhausting the interpreter's stack.
    """

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Expr | None:
        if len(self.tokens) > MAX_TOKENS or _nesting(self.tokens) > MAX_DEPTH:
            return None
        try:
            expr = self._sum()
        except (IndexError, ValueError, ZeroDivisionError, RecursionError):
            return None
        return expr if self.pos == len(self.tokens) else None

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _sum(self) -> Expr:
        expr = self._product()
        while self._peek() in ("+", "-"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            expr = Bin(op, expr, self._product())
        return expr

    def _product(self) -> Expr:
        expr = self._unary()
        while self._peek() in ("*", "/"):
            op = self.tokens[self.pos][1]
            self.pos += 1
            expr = Bin(op, expr, self._unary())
        return expr

    def _unary(self) -> Expr:
        if self._peek() in ("-", "+"):
            sign = self.tokens[self.pos][1]
            self.pos += 1
            inner = self._unary()
            if sign == "+":
                return inner
            if isinstance(inner, Num):
                return Num(-inner.value)
            return Bin("-", Num(Fraction(0)), inner)
        return self._atom()

    def _atom(self) -> Expr:
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "num":
            digits = text.replace(",", "")
            expr: Expr = Num(Fraction(int(digits)) if digits.isdigit() else Fraction(digits))
        elif text == "(":
            expr = self._sum()
            if self._peek() != ")":
                raise ValueError("unbalanced parenthesis")
            self.pos += 1
        else:
            raise ValueError(f"unexpected {text!r}")
        while self._peek() == "%":
            self.pos += 1
            expr = (
                Num(expr.value / 100)
                if isinstance(expr, Num)
                else Bin("/", expr, Num(Fraction(100)))
            )
        return expr


def _tokenize(text: str) -> list[tuple[str, str]] | None:
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN_RE.finditer(text.replace("$", " ")):
        if match["bad"] is not None:
            return None
        kind = "num" if match["num"] is not None else "op"
        tokens.append((kind, match[kind]))
    return tokens


def parse_expression(text: str) -> Expr | None:
    """Parse an arithmetic expression over numbers (``+ - * / ( ) %``); ``None`` if invalid.

    Example:
        >>> render(parse_expression("(2 + 3) × 4")), parse_expression("2 +")
        ('(2 + 3) * 4', None)
    """
    tokens = _tokenize(normalize(text)) if isinstance(text, str) else None
    if not tokens:
        return None
    return _Parser(tokens).parse()


def _trailing_expression(segment: str) -> Expr | None:
    """Return the longest arithmetic expression that ends ``segment``."""
    start = len(segment)
    while start > 0 and segment[start - 1] in _EXPR_CHARS:
        start -= 1
    tokens = _tokenize(segment[start:])
    if tokens is None:  # e.g. "1,2" fragments: keep only what follows the last comma
        tail = segment[start:].rsplit(",", 1)[-1]
        tokens = _tokenize(tail)
    if not tokens:
        return None
    # No expression may be longer, so only the last MAX_TOKENS tokens can start one (this
    # also keeps the search below quadratic in a bounded number).
    tokens = tokens[-MAX_TOKENS:]
    for first in range(len(tokens)):
        if tokens[first][0] != "num" and tokens[first][1] not in "(-":
            continue
        expr = _Parser(tokens[first:]).parse()
        if expr is not None:
            return expr
    return None


def parse_equations(text: str) -> list[Equation]:
    """Every computation ``<expression> = <number>`` stated in a step, in order.

    Only left-hand sides with at least one operation count (``x = 5`` or
    ``Total = 12`` state no computation). Chains split into links:
    ``3 * 4 = 12 + 5 = 17`` gives ``3 * 4 = 12`` and ``12 + 5 = 17``. GSM8K
    annotations are removed first, and text around the equation is ignored.

    Example:
        >>> [str(eq) for eq in parse_equations("Cost: 3 x $4 = $12, plus 12 + 5 = 17 total")]
        ['3 * 4 = 12', '12 + 5 = 17']
    """
    if not isinstance(text, str) or "=" not in text:
        return []
    text = normalize(strip_annotations(text))
    equations: list[Equation] = []
    left_start = 0
    for equals in _EQUALS_RE.finditer(text):
        result = _RESULT_RE.match(text, equals.end())
        if result is None:
            left_start = equals.end()
            continue
        expr = _trailing_expression(text[left_start : equals.start()])
        stated = _number_from_match(result)
        if isinstance(expr, Bin) and stated is not None:
            equations.append(Equation(expr, stated, evaluate(expr)))
        left_start = result.start("sign") if result["sign"] else result.start("whole")
    return equations
