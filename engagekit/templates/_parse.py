"""Handlebars source -> a small tree with positions, and back to source pybars3 understands.

engagekit parses templates itself (tags, blocks, ``else if`` chains, inline partials, standalone
lines, ``~`` whitespace control, escaped mustaches) and hands pybars3 only source it handles
correctly. The tree also tells which variables each part reads (:mod:`._analysis`), which is
what lets :func:`render_batch` render once per distinct combination of those values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engagekit.errors import TemplateError

# --------------------------------------------------------------------------------------------
# expressions


@dataclass(frozen=True)
class Path:
    """A variable reference: ``../`` depth, ``@`` data flag and its segments."""

    segments: tuple[str, ...]
    up: int = 0
    data: bool = False
    text: str = ""

    @property
    def is_this(self) -> bool:
        return not self.segments and not self.data


@dataclass(frozen=True)
class Literal:
    value: object
    text: str


@dataclass(frozen=True)
class SubExpr:
    expr: Expr
    text: str


Param = Path | Literal | SubExpr


@dataclass(frozen=True)
class Expr:
    """``head param param key=value`` inside a mustache."""

    head: Param
    params: tuple[Param, ...] = ()
    hash: tuple[tuple[str, Param], ...] = ()
    text: str = ""

    def head_text(self) -> str:
        return self.head.text

    @property
    def name(self) -> str | None:
        """The helper or variable name when the head is a single plain segment."""
        h = self.head
        if isinstance(h, Path) and not h.data and h.up == 0 and len(h.segments) == 1:
            return h.segments[0]
        return None


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
    | (?P<open>\()
    | (?P<close>\))
    | (?P<key>[A-Za-z_@][\w\-@]*)=(?!=)
    | (?P<num>-?\d+(?:\.\d+)?)(?=[\s)]|$)
    | (?P<path>(?:\.\./|\./)*@?(?:\[[^\]]*\]|[^\s()=./\[\]]+)
        (?:[./](?:\[[^\]]*\]|[^\s()=./\[\]]+))*|\.\.|\.)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "false": False, "null": None, "undefined": None}


def parse_expr(text: str) -> Expr:
    """Parse the inside of a mustache (``upper User.UserAttributes.FirstName.[0]``)."""
    tokens = _tokenize(text)
    expr, pos = _parse_call(tokens, 0, text)
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r}")
    return expr


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {stripped[pos:].strip()!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse_call(tokens: list[tuple[str, str]], pos: int, text: str) -> tuple[Expr, int]:
    if pos >= len(tokens):
        raise ValueError("empty expression")
    head, pos = _parse_param(tokens, pos)
    params: list[Param] = []
    hashes: list[tuple[str, Param]] = []
    while pos < len(tokens) and tokens[pos][0] != "close":
        kind, value = tokens[pos]
        if kind == "key":
            val, pos = _parse_param(tokens, pos + 1)
            hashes.append((value, val))
        else:
            if hashes:
                raise ValueError(f"positional argument {value!r} after key=value arguments")
            param, pos = _parse_param(tokens, pos)
            params.append(param)
    return Expr(head, tuple(params), tuple(hashes), text.strip()), pos


def _parse_param(tokens: list[tuple[str, str]], pos: int) -> tuple[Param, int]:
    if pos >= len(tokens):
        raise ValueError("missing value")
    kind, value = tokens[pos]
    if kind == "str":
        body = value[1:-1]
        body = re.sub(r"\\(.)", r"\1", body)
        return Literal(body, value), pos + 1
    if kind == "num":
        return Literal(float(value) if "." in value else int(value), value), pos + 1
    if kind == "open":
        inner, end = _parse_call(tokens, pos + 1, "")
        if end >= len(tokens) or tokens[end][0] != "close":
            raise ValueError("unclosed '('")
        text = "(" + " ".join(t[1] for t in tokens[pos + 1 : end]) + ")"
        return SubExpr(inner, text), end + 1
    if kind == "path":
        if value in _KEYWORDS:
            return Literal(_KEYWORDS[value], value), pos + 1
        return parse_path(value), pos + 1
    raise ValueError(f"unexpected {value!r}")


_SEGMENT = re.compile(r"\[([^\]]*)\]|([^./\[\]]+)")


def parse_path(text: str) -> Path:
    """``../User.UserAttributes.[Last Name].[0]`` -> Path(up=1, segments=(...))."""
    rest = text
    data = False
    if rest.startswith("@"):
        data = True
        rest = rest[1:]
    up = 0
    while rest.startswith(("../", "./")):
        up += rest.startswith("../")
        rest = rest[3:] if rest.startswith("../") else rest[2:]
    if rest in ("..",):
        return Path((), up + 1, data, text)
    segments: list[str] = []
    for i, m in enumerate(_SEGMENT.finditer(rest)):
        seg = m.group(1) if m.group(1) is not None else m.group(2)
        if i == 0 and m.group(1) is None and seg == "this" and not data:
            continue
        segments.append(seg)
    return Path(tuple(segments), up, data, text)


# --------------------------------------------------------------------------------------------
# tree


@dataclass
class Node:
    line: int
    column: int


@dataclass
class Text(Node):
    value: str


@dataclass
class Mustache(Node):
    expr: Expr
    escaped: bool


@dataclass
class Block(Node):
    name: str
    expr: Expr  # head is the helper/section path, params are its arguments
    body: list[Node] = field(default_factory=list)
    inverse: list[Node] | None = None
    inverted: bool = False  # {{^x}}...{{/x}}


@dataclass
class Partial(Node):
    name: str | None  # None for a dynamic (sub-expression) name
    args: str  # the source after the name (context argument and hash)
    indent: str = ""
    dynamic: str = ""  # the sub-expression source when name is None
    standalone: bool = False


@dataclass
class Raw(Node):
    name: str
    content: str


@dataclass
class Parsed:
    """A parsed template part: top-level nodes and the inline partials it defines."""

    nodes: list[Node]
    inline_partials: dict[str, list[Node]]


@dataclass
class _Tag:
    kind: str  # open, inverted, close, else, mustache, raw_mustache, partial, comment, inline
    inner: str
    pos: int
    end: int
    strip_left: bool
    strip_right: bool
    line: int = 0
    column: int = 0
    indent: str = ""
    standalone: bool = False


_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_\-@]+$")


def _line_col(source: str, pos: int) -> tuple[int, int]:
    line = source.count("\n", 0, pos) + 1
    start = source.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def _find_close(source: str, start: int, closing: str) -> int:
    """Index of ``closing`` after ``start``, skipping string literals; -1 if absent."""
    i = start
    n = len(source)
    while i < n:
        ch = source[i]
        if ch in "\"'":
            j = source.find(ch, i + 1)
            while j != -1 and source[j - 1] == "\\":
                j = source.find(ch, j + 1)
            if j == -1:
                return source.find(closing, start)
            i = j + 1
            continue
        if source.startswith(closing, i):
            return i
        i += 1
    return -1


def tokenize(source: str, *, template: str | None = None, part: str | None = None) -> list:
    """Split source into text strings and :class:`_Tag` objects."""
    out: list = []
    pos = 0
    n = len(source)
    buf: list[str] = []

    def error(msg: str, at: int) -> TemplateError:
        line, col = _line_col(source, at)
        return TemplateError(msg, template=template, part=part, line=line, column=col)

    while pos < n:
        i = source.find("{{", pos)
        if i == -1:
            buf.append(source[pos:])
            break
        # escaped mustache: \{{x}} prints {{x}} literally
        if i > 0 and source[i - 1] == "\\" and not (i > 1 and source[i - 2] == "\\"):
            buf.append(source[pos : i - 1])
            end = source.find("}}", i + 2)
            end = n if end == -1 else end + 2
            while end < n and source[end] == "}":
                end += 1
            buf.append(source[i:end])
            pos = end
            continue
        if i > 1 and source[i - 1] == "\\" and source[i - 2] == "\\":
            buf.append(source[pos : i - 1])
        else:
            buf.append(source[pos:i])
        if buf:
            out.append("".join(buf))
            buf = []
        if source.startswith("{{{{", i):  # raw block {{{{name}}}} ... {{{{/name}}}}
            close = source.find("}}}}", i + 4)
            if close == -1:
                raise error("raw block '{{{{' is not closed with '}}}}'", i)
            name = source[i + 4 : close].strip()
            end_tag = "{{{{/" + name + "}}}}"
            stop = source.find(end_tag, close + 4)
            if stop == -1:
                raise error(f"raw block {name!r} has no closing {end_tag}", i)
            tag = _Tag(
                "raw",
                name + "\x00" + source[close + 4 : stop],
                i,
                stop + len(end_tag),
                False,
                False,
            )
            tag.line, tag.column = _line_col(source, i)
            out.append(tag)
            pos = stop + len(end_tag)
            continue
        if source.startswith("{{!--", i) or source.startswith("{{~!--", i):
            close = source.find("--", i + 5)
            close = source.find("}}", close) if close != -1 else -1
            if close == -1:
                raise error("comment '{{!--' is not closed with '--}}'", i)
            inner = source[i + 2 : close]
            tag = _Tag("comment", inner, i, close + 2, inner.startswith("~"), inner.endswith("~"))
            tag.line, tag.column = _line_col(source, i)
            out.append(tag)
            pos = close + 2
            continue
        triple = source.startswith("{{{", i) or source.startswith("{{~{", i)
        closing = "}}}" if triple else "}}"
        close = _find_close(source, i + 2, closing)
        if triple:  # {{{x}}} or {{~{x}~}}: whichever closes first
            tilde = _find_close(source, i + 2, "}~}}")
            if tilde != -1 and (close == -1 or tilde < close):
                close, closing = tilde, "}~}}"
        if close == -1:
            raise error("'{{' is not closed with '}}'", i)
        inner = source[i + 2 : close]
        end = close + len(closing)
        if triple and inner.startswith("~{"):
            inner = "~" + inner[2:]
        elif triple:
            inner = inner[1:]
        if closing == "}~}}":
            inner += "~"
        strip_left = inner.startswith("~")
        if strip_left:
            inner = inner[1:]
        strip_right = inner.endswith("~")
        if strip_right:
            inner = inner[:-1]
        if triple:
            kind = "raw_mustache"
        else:
            kind, inner = _classify(inner)
        tag = _Tag(kind, inner, i, end, strip_left, strip_right)
        tag.line, tag.column = _line_col(source, i)
        out.append(tag)
        pos = end
    if buf:
        out.append("".join(buf))
    return out


def _classify(inner: str) -> tuple[str, str]:
    s = inner.strip()
    if s.startswith("!"):
        return "comment", s
    if s.startswith("#*"):
        return "inline", s[2:].strip()
    if s.startswith("#>"):
        return "partial_block", s[2:].strip()
    if s.startswith("#"):
        return "open", s[1:].strip()
    if s == "^":
        return "else", ""
    if s.startswith("^"):
        return "inverted", s[1:].strip()
    if s.startswith("/"):
        return "close", s[1:].strip()
    if s.startswith(">"):
        return "partial", s[1:].strip()
    if s.startswith("&"):
        return "raw_mustache", s[1:].strip()
    if s.startswith("="):
        return "delimiters", s
    if s == "else" or s.startswith("else ") or s.startswith("else\t") or s.startswith("else\n"):
        return "else", s[4:].strip()
    return "mustache", s


_STANDALONE = {"open", "inverted", "close", "else", "comment", "partial", "inline"}


def _apply_whitespace(items: list) -> list:
    """Standalone lines (Mustache spec) and ``~`` whitespace control, in place on text items."""
    items = list(items)
    n = len(items)
    line_starts = {0}
    for k, item in enumerate(items):
        if not isinstance(item, _Tag) or item.kind not in _STANDALONE:
            continue
        prev = items[k - 1] if k > 0 else None
        nxt = items[k + 1] if k + 1 < n else None
        if prev is not None and not isinstance(prev, str):
            continue
        if nxt is not None and not isinstance(nxt, str):
            continue
        before = prev or ""
        line_start = before.rfind("\n")
        head = before[line_start + 1 :]
        if head.strip(" \t") != "":
            continue
        if line_start == -1 and k > 0 and (k - 1) not in line_starts:
            continue  # text without a newline that does not start a line
        after = nxt or ""
        nl = after.find("\n")
        tail = after if nl == -1 else after[:nl]
        if tail.rstrip("\r").strip(" \t") != "":
            continue
        if nl == -1 and k + 2 < n:  # no newline and more items follow: not alone on its line
            continue
        item.indent = head
        item.standalone = True
        if prev is not None:
            items[k - 1] = before[: line_start + 1]
        if nxt is not None:
            items[k + 1] = "" if nl == -1 else after[nl + 1 :]
            line_starts.add(k + 1)
    for k, item in enumerate(items):
        if not isinstance(item, _Tag):
            continue
        if item.strip_left and k > 0 and isinstance(items[k - 1], str):
            items[k - 1] = items[k - 1].rstrip()
        if item.strip_right and k + 1 < n and isinstance(items[k + 1], str):
            items[k + 1] = items[k + 1].lstrip()
    return items


def parse(source: str, *, template: str | None = None, part: str | None = None) -> Parsed:
    """Parse a template part into nodes; raise :class:`TemplateError` with line and column."""
    items = _apply_whitespace(tokenize(source, template=template, part=part))
    inline: dict[str, list[Node]] = {}
    root: list[Node] = []
    # stack entries: (block node, opening tag, current list being filled)
    stack: list[tuple[Block | None, _Tag | None, list[Node], str]] = [(None, None, root, "")]

    def error(msg: str, tag: _Tag) -> TemplateError:
        return TemplateError(msg, template=template, part=part, line=tag.line, column=tag.column)

    def expr_of(tag: _Tag, text: str) -> Expr:
        try:
            return parse_expr(text)
        except ValueError as exc:
            raise error(f"cannot parse {{{{{tag.inner}}}}}: {exc}", tag) from None

    for item in items:
        target = stack[-1][2]
        if isinstance(item, str):
            if item:
                if target and isinstance(target[-1], Text):
                    target[-1].value += item
                else:
                    target.append(Text(0, 0, item))
            continue
        tag: _Tag = item
        if tag.kind == "comment":
            continue
        if tag.kind == "delimiters":
            raise error(
                "set-delimiter tags ({{=<% %>=}}) are Mustache-only; Handlebars and "
                "Pinpoint do not support them",
                tag,
            )
        if tag.kind == "partial_block":
            raise error(
                "partial blocks ({{#> name}}) are not supported; use an inline "
                'partial ({{#* inline "name"}}) instead',
                tag,
            )
        if tag.kind in ("mustache", "raw_mustache"):
            if not tag.inner.strip():
                raise error("empty mustache {{}}", tag)
            expr = expr_of(tag, tag.inner)
            target.append(Mustache(tag.line, tag.column, expr, tag.kind == "mustache"))
        elif tag.kind == "raw":
            name, content = tag.inner.split("\x00", 1)
            target.append(Raw(tag.line, tag.column, name, content))
        elif tag.kind == "partial":
            target.append(_partial(tag, error))
        elif tag.kind in ("open", "inverted", "inline"):
            expr = expr_of(tag, tag.inner)
            if tag.kind == "inline" and (
                expr.name != "inline"
                or len(expr.params) != 1
                or not isinstance(expr.params[0], Literal)
            ):
                raise error('decorators other than {{#* inline "name"}} are not supported', tag)
            name = _block_name(expr)
            block = Block(tag.line, tag.column, name, expr, inverted=tag.kind == "inverted")
            if tag.kind != "inline":
                target.append(block)
            stack.append((block, tag, block.body, tag.kind))
        elif tag.kind == "else":
            cur, open_tag, _, kind = stack[-1]
            if cur is None or kind == "inline":
                raise error("{{else}} outside of a block", tag)
            if not tag.inner:
                if cur.inverse is not None:
                    raise error(f"a second {{{{else}}}} in block {cur.name!r}", tag)
                cur.inverse = []
                stack[-1] = (cur, open_tag, cur.inverse, kind)
            else:  # else-if chain: nest a block in the inverse, closed with the outer one
                expr = expr_of(tag, tag.inner)
                chained = Block(tag.line, tag.column, _block_name(expr), expr)
                cur.inverse = [chained]
                chained_marker = _Tag(
                    "chain", "", tag.pos, tag.end, False, False, tag.line, tag.column
                )
                stack.append((chained, chained_marker, chained.body, "chain"))
        elif tag.kind == "close":
            name = tag.inner.strip()
            while stack[-1][3] == "chain":
                stack.pop()
            cur, open_tag, _, kind = stack[-1]
            if cur is None or open_tag is None:
                raise error(f"{{{{/{name}}}}} closes a block that was never opened", tag)
            expected = "inline" if kind == "inline" else cur.expr.head_text()
            if name != expected:
                raise error(
                    f"{{{{/{name}}}}} does not match {{{{#{expected}}}}} opened at line "
                    f"{open_tag.line}, column {open_tag.column}",
                    tag,
                )
            stack.pop()
            if kind == "inline":
                lit = cur.expr.params[0]
                assert isinstance(lit, Literal)
                inline[str(lit.value)] = cur.body
    if len(stack) > 1:
        unclosed, open_tag, _, _ = stack[-1]
        assert open_tag is not None and unclosed is not None
        raise error(
            f"block {unclosed.name!r} is never closed (expected {{{{/{unclosed.name}}}}})",
            open_tag,
        )
    return Parsed(root, inline)


def _block_name(expr: Expr) -> str:
    h = expr.head
    if isinstance(h, Path):
        return h.text
    if isinstance(h, Literal):
        return h.text
    return h.text


def _partial(tag: _Tag, error) -> Partial:
    s = tag.inner.strip()
    if s.startswith("("):
        depth = 0
        for j, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                return Partial(
                    tag.line,
                    tag.column,
                    None,
                    s[j + 1 :].strip(),
                    tag.indent,
                    s[: j + 1],
                    tag.standalone,
                )
        raise error("unclosed '(' in partial name", tag)
    if s.startswith("*"):  # Mustache dynamic names: {{>*name}}
        name_path = s[1:].split(None, 1)
        rest = name_path[1] if len(name_path) > 1 else ""
        dynamic = f'({OR_NAME_HELPER} {name_path[0]} "")'
        return Partial(tag.line, tag.column, None, rest, tag.indent, dynamic, tag.standalone)
    m = re.match(r'"([^"]*)"|\'([^\']*)\'|\[([^\]]*)\]|(\S+)', s)
    if not m:
        raise error("a partial needs a name: {{> name}}", tag)
    name = next(g for g in m.groups() if g is not None)
    return Partial(tag.line, tag.column, name, s[m.end() :].strip(), tag.indent, "", tag.standalone)


# --------------------------------------------------------------------------------------------
# emit source for pybars3

SECTION_HELPER = "_ek_section"
OR_NAME_HELPER = "_ek_or_name"
INDENTED_HELPER = "_ek_indented"

#: (helper, hash key) and (helper, positional index) whose bare words are names, not variables,
#: as in Pinpoint's documented examples ``tz=America/Los_Angeles`` and ``inflect 3 apple apples``.
NAME_HASH_KEYS = {
    "tz",
    "format",
    "inputFormat",
    "outputFormat",
    "locale",
    "yes",
    "no",
    "maybe",
    "pad",
    "prefix",
    "suffix",
}
NAME_POSITIONS = {"inflect": (1, 2), "now": (0,), "dateFormat": (1, 2)}


def _param_src(p: Param, helper: str | None, slot: int | str) -> str:
    if isinstance(p, SubExpr):
        return "(" + expr_src(p.expr) + ")"
    if isinstance(p, Path) and helper is not None and not p.data and p.up == 0 and p.segments:
        named = (isinstance(slot, str) and slot in NAME_HASH_KEYS) or (
            isinstance(slot, int) and slot in NAME_POSITIONS.get(helper, ())
        )
        if named:
            quoted = p.text.replace("\\", "\\\\").replace('"', '\\"')
            return f'({OR_NAME_HELPER} {p.text} "{quoted}")'
    if isinstance(p, Literal) and isinstance(p.value, float):
        return f'"{p.text}"'  # pybars3 has no decimal literals; helpers read numeric strings
    if isinstance(p, Literal) and isinstance(p.value, str):
        quoted = p.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}"'
    return p.text


def expr_src(expr: Expr) -> str:
    """Source for pybars3 (single-character hash keys are fine with engagekit's grammar)."""
    helper = expr.name
    parts = [
        expr.head.text if not isinstance(expr.head, SubExpr) else _param_src(expr.head, None, 0)
    ]
    parts += [_param_src(p, helper, i) for i, p in enumerate(expr.params)]
    parts += [f"{k}={_param_src(v, helper, k)}" for k, v in expr.hash]
    return " ".join(parts)


def _text_src(value: str) -> str:
    if "{{" not in value:
        return value
    # literal braces (from an escaped mustache) go through a raw block pybars prints verbatim
    return "{{{{_ek_raw}}}}" + value + "{{{{/_ek_raw}}}}"


def indent_nodes(nodes: list[Node], indent: str) -> list[Node]:
    """A copy of a partial's nodes with ``indent`` before each line of its text (spec rule)."""
    if not indent:
        return nodes
    out, _ = _indent(nodes, indent, True)
    return out


def _indent(nodes: list[Node], indent: str, at_line_start: bool) -> tuple[list[Node], bool]:
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, Text):
            buf = []
            for i, line in enumerate(node.value.split("\n")):
                if i > 0:
                    buf.append("\n")
                    at_line_start = True
                if line and at_line_start:
                    buf.append(indent)
                    at_line_start = False
                buf.append(line)
            out.append(Text(node.line, node.column, "".join(buf)))
        elif isinstance(node, Partial) and node.standalone:
            out.append(
                Partial(
                    node.line,
                    node.column,
                    node.name,
                    node.args,
                    indent + node.indent,
                    node.dynamic,
                    True,
                )
            )
        elif isinstance(node, Block):
            body, end_body = _indent(node.body, indent, at_line_start)
            inverse = None
            end_inv = end_body
            if node.inverse is not None:
                inverse, end_inv = _indent(node.inverse, indent, at_line_start)
            out.append(
                Block(node.line, node.column, node.name, node.expr, body, inverse, node.inverted)
            )
            at_line_start = end_body and end_inv
        else:
            if at_line_start:
                out.append(Text(node.line, node.column, indent))
                at_line_start = False
            out.append(node)
    return out, at_line_start


def emit(nodes: list[Node], partial_alias: dict[tuple[str, str], str] | None = None) -> str:
    """Source for pybars3 equivalent to ``nodes`` under Handlebars.js semantics."""
    out: list[str] = []
    alias = partial_alias or {}
    for node in nodes:
        if isinstance(node, Text):
            out.append(_text_src(node.value))
        elif isinstance(node, Mustache):
            src = expr_src(node.expr)
            out.append("{{" + src + "}}" if node.escaped else "{{{" + src + "}}}")
        elif isinstance(node, Raw):
            out.append("{{{{" + node.name + "}}}}" + node.content + "{{{{/" + node.name + "}}}}")
        elif isinstance(node, Partial):
            if node.name is None:
                dynamic = node.dynamic
                if node.indent:
                    code = node.indent.replace(" ", "s").replace("\t", "t")
                    dynamic = f'({INDENTED_HELPER} {dynamic} "{code}")'
                out.append("{{> " + dynamic + (" " + node.args if node.args else "") + "}}")
            else:
                name = alias.get((node.name, node.indent), node.name)
                out.append('{{> "' + name + '"' + (" " + node.args if node.args else "") + "}}")
        elif isinstance(node, Block):
            out.append(_emit_block(node, alias))
    return "".join(out)


def block_open_src(node: Block) -> tuple[str, str]:
    """(opening tag, helper name) for a block."""
    expr = node.expr
    name = expr.name
    sigil = "^" if node.inverted else "#"
    if name is not None and _SIMPLE_NAME.match(name):
        return "{{" + sigil + expr_src(expr) + "}}", name
    # dotted / bracketed section names: a helper with Mustache section semantics
    return "{{" + sigil + SECTION_HELPER + " " + expr_src(expr) + "}}", SECTION_HELPER


def _emit_block(node: Block, alias: dict[tuple[str, str], str]) -> str:
    open_src, helper = block_open_src(node)
    src = open_src + emit(node.body, alias)
    if node.inverse is not None:
        src += "{{else}}" + emit(node.inverse, alias)
    return src + "{{/" + helper + "}}"


# --------------------------------------------------------------------------------------------
# pybars3's token tree, built directly (skips its slow PEG parse of the source)


class Unsupported(Exception):
    """A construct the direct tree does not cover; the caller compiles emitted source instead."""


def _segments(p: Path) -> list[str]:
    if p.data and p.up:
        raise Unsupported("@../")
    for seg in p.segments:
        if "'" in seg or "\\" in seg:
            raise Unsupported("quote in a path segment")
    segs: list[str] = ["@_parent"] * p.up
    names = list(p.segments)
    if p.data and names:
        names[0] = "@" + names[0]
    for i, seg in enumerate(names):
        if i:
            segs.append("")
        segs.append(seg)
    if not names and not p.up:
        segs = [""]
    return segs


def _py_string(value: str) -> str:
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + body + '"'


def _arg_tree(p: Param, helper: str | None, slot: int | str) -> tuple:
    if isinstance(p, SubExpr):
        return _subexpr_tree(p.expr)
    if isinstance(p, Literal):
        if isinstance(p.value, float):
            return ("literalparam", _py_string(p.text))
        if isinstance(p.value, str):
            return ("literalparam", _py_string(p.value))
        return ("literalparam", p.value)
    if helper is not None and not p.data and p.up == 0 and p.segments:
        named = (isinstance(slot, str) and slot in NAME_HASH_KEYS) or (
            isinstance(slot, int) and slot in NAME_POSITIONS.get(helper, ())
        )
        if named:
            return (
                "subexpr",
                ("path", [OR_NAME_HELPER]),
                [("path", _segments(p)), ("literalparam", _py_string(p.text))],
            )
    return ("path", _segments(p))


def _args_tree(expr: Expr) -> list[tuple]:
    helper = expr.name
    out = [_arg_tree(p, helper, i) for i, p in enumerate(expr.params)]
    out += [("kwparam", k, _arg_tree(v, helper, k)) for k, v in expr.hash]
    return out


def _subexpr_tree(expr: Expr) -> tuple:
    name = expr.name
    if name is None:
        raise Unsupported("sub-expression without a helper name")
    return ("subexpr", ("path", [name]), _args_tree(expr))


def tree(nodes: list[Node], partial_alias: dict[tuple[str, str], str] | None = None) -> list:
    """pybars3's token tree for ``nodes`` (what its grammar produces for :func:`emit`)."""
    alias = partial_alias or {}
    out: list = ["template"]
    for node in nodes:
        if isinstance(node, Text):
            if node.value:
                out.append(("literal", node.value))
        elif isinstance(node, Mustache):
            head = node.expr.head
            if not isinstance(head, Path):
                raise Unsupported("mustache head is not a path")
            kind = "escapedexpand" if node.escaped else "expand"
            out.append((kind, ("path", _segments(head)), _args_tree(node.expr)))
        elif isinstance(node, Raw):
            out.append(("rawblock", node.name, [], node.content))
        elif isinstance(node, Partial):
            args = _args_tree(parse_expr("_ " + node.args)) if node.args else []
            if node.name is None:
                dyn = parse_expr(node.dynamic[1:-1])
                name_tree = _subexpr_tree(dyn)
                if node.indent:
                    code = node.indent.replace(" ", "s").replace("\t", "t")
                    name_tree = (
                        "subexpr",
                        ("path", [INDENTED_HELPER]),
                        [name_tree, ("literalparam", _py_string(code))],
                    )
            else:
                name = alias.get((node.name, node.indent), node.name)
                if any(c in name for c in " \"'\\]"):
                    raise Unsupported("partial name")
                name_tree = ("literalparam", '"' + name + '"')
            out.append(("partial", name_tree, args))
        elif isinstance(node, Block):
            expr = node.expr
            block_name = expr.name
            if block_name is not None and _SIMPLE_NAME.match(block_name):
                symbol, args = block_name, _args_tree(expr)
            else:
                if not isinstance(expr.head, Path):
                    raise Unsupported("block head")
                symbol = SECTION_HELPER
                args = [("path", _segments(expr.head)), *_args_tree(expr)]
            body = tree(node.body, alias)
            inverse = tree(node.inverse, alias) if node.inverse is not None else []
            kind = "invertedblock" if node.inverted else "block"
            out.append((kind, symbol, args, body, inverse))
    return out
