"""Which variables a piece of template reads, found by walking its tree.

The answer is conservative: a set of root paths (``("User", "UserAttributes", "FirstName")``)
whose values fully determine the output, ``everything`` when that cannot be proven (a partial
with a new context, ``../`` out of a section, a custom block helper), and ``volatile`` when the
output is not a function of the context at all (``uuid``).

    >>> from engagekit.templates._parse import parse
    >>> sorted(reads(parse("{{#if Attributes.vip}}{{upper Location.City}}{{/if}}").nodes).paths)
    [('Attributes', 'vip'), ('Location', 'City')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engagekit.templates import _compile as C
from engagekit.templates import _parse as P

Root = tuple[str, ...]


@dataclass
class Reads:
    """Root paths read; ``everything`` and ``volatile`` flags."""

    paths: set[Root] = field(default_factory=set)
    everything: bool = False
    volatile: bool = False

    def add(self, path: Root | None) -> None:
        if path is None or path == ():
            self.everything = True
        else:
            self.paths.add(path)


# frames: ("root",), ("item", cover) where cover is a Root or None (= everything),
# ("section", cover) where reads may resolve in the section value or in the frame below
Frame = tuple


def is_helper(name: str | None) -> bool:
    return name is not None and name in C.HELPERS


def reads(
    nodes: list[P.Node],
    partials: Mapping[str, list[P.Node]] | None = None,
    frames: list[Frame] | None = None,
) -> Reads:
    """The variables ``nodes`` read, relative to the template's root context."""
    out = Reads()
    _walk(nodes, frames or [("root",)], out, partials or {}, set())
    return out


def _walk(
    nodes: list[P.Node],
    frames: list[Frame],
    out: Reads,
    partials: Mapping[str, list[P.Node]],
    active: set[str],
) -> None:
    for node in nodes:
        if isinstance(node, P.Mustache):
            _expr(node.expr, frames, out, as_call=True)
        elif isinstance(node, P.Block):
            _block(node, frames, out, partials, active)
        elif isinstance(node, P.Partial):
            if node.name is None or node.args or node.name in active:
                out.everything = True
                continue
            body = partials.get(node.name)
            if body is None:
                out.everything = True
                continue
            _walk(body, frames, out, partials, active | {node.name})
        elif isinstance(node, P.Raw) and is_helper(node.name):
            out.everything = True


def _expr(expr: P.Expr, frames: list[Frame], out: Reads, *, as_call: bool) -> None:
    name = expr.name
    if is_helper(name):
        if name in C.VOLATILE_HELPERS:
            out.volatile = True
    else:
        _param(expr.head, frames, out)
    for p in expr.params:
        _param(p, frames, out)
    for _, p in expr.hash:
        _param(p, frames, out)


def _param(p: P.Param, frames: list[Frame], out: Reads) -> None:
    if isinstance(p, P.SubExpr):
        _expr(p.expr, frames, out, as_call=True)
    elif isinstance(p, P.Path):
        _path(p, frames, out)


def _path(p: P.Path, frames: list[Frame], out: Reads) -> None:
    if p.data:
        if p.segments and p.segments[0] == "root":
            out.add(p.segments[1:] or None)
        return  # @index, @first, @last, @key: fixed by the iteration that encloses them
    level = len(frames) - 1 - p.up
    if level < 0:
        out.everything = True
        return
    if p.up and any(f[0] == "section" for f in frames[level + 1 :]):
        out.everything = True  # pybars3's parent inside a section is not Handlebars.js's
        return
    _resolve(p.segments, frames[: level + 1], out)


def _resolve(segments: Root, frames: list[Frame], out: Reads) -> None:
    frame = frames[-1]
    if frame[0] == "root":
        out.add(segments or None)
    elif frame[0] == "item":
        out.add(frame[1])
    else:  # section: the value of the section, or (for `true`) the enclosing context
        out.add(frame[1])
        _resolve(segments, frames[:-1], out)


def cover_of(p: P.Param, frames: list[Frame]) -> Root | None:
    """The root path that covers everything under a block's context argument."""
    if not isinstance(p, P.Path):
        return None
    probe = Reads()
    _path(p, frames, probe)
    if probe.everything or len(probe.paths) != 1:
        return None
    return next(iter(probe.paths))


def _block(
    node: P.Block,
    frames: list[Frame],
    out: Reads,
    partials: Mapping[str, list[P.Node]],
    active: set[str],
) -> None:
    name = node.expr.name
    if is_helper(name):
        _expr(node.expr, frames, out, as_call=True)
        if name in ("each", "with") and not node.inverted:
            cover = cover_of(node.expr.params[0], frames) if node.expr.params else None
            if cover is None:
                out.everything = True
            _walk(node.body, [*frames, ("item", cover)], out, partials, active)
            if node.inverse:
                _walk(node.inverse, frames, out, partials, active)
        elif name in C.CONDITIONAL_HELPERS:
            _walk(node.body, frames, out, partials, active)
            if node.inverse:
                _walk(node.inverse, frames, out, partials, active)
        else:  # a custom block helper may call its body with any context
            out.everything = True
        return
    # a section (Mustache semantics): lists iterate, objects become the context
    _param(node.expr.head, frames, out)
    cover = cover_of(node.expr.head, frames)
    if cover is None:
        out.everything = True
    if node.inverted:
        _walk(node.body, frames, out, partials, active)
    else:
        _walk(node.body, [*frames, ("section", cover)], out, partials, active)
    if node.inverse:
        _walk(node.inverse, frames, out, partials, active)
