"""Compile template parts with pybars3, made to behave like Pinpoint's Handlebars.

pybars3 0.9.7 gaps closed here, without touching the installed package:

* ``{{else if ...}}`` chains, inline partials, dotted section names, standalone lines and
  ``~`` are handled by :mod:`._parse`, which hands pybars3 equivalent source;
* single-character hash keys (``{{center x size=9 pad="*"}}`` is fine, ``{{h s="x"}}`` is not
  in pybars3): a derived grammar accepts them;
* partials given as strings are compiled like templates;
* lists print comma-joined like Handlebars.js, numbers like JavaScript, ``=`` is escaped too;
* ``each`` stops after 15 items, as Pinpoint does;
* pybars3's compiler keeps state in a class attribute, so compiling is serialized by a lock
  (rendering compiled templates is thread-safe).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pybars
import pybars._compiler as _pc
from pymeta.grammar import OMeta

from engagekit.errors import TemplateError
from engagekit.templates import _parse as P

EACH_LIMIT = 15

# --------------------------------------------------------------------------------------------
# values


class HBList(list):
    """A list that prints like a JavaScript array (``a,b``) and answers ``.[0]`` / ``.length``."""

    __slots__ = ()

    def __str__(self) -> str:
        return ",".join("" if v is None else to_text(v) for v in self)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            if key == "length":
                return len(self)
            try:
                key = int(key)
            except ValueError:
                return None
        try:
            return list.__getitem__(self, key)
        except IndexError:
            return None

    def get(self, key: Any, default: Any = None) -> Any:
        value = self[key]
        return default if value is None else value


def to_text(value: Any) -> str:
    """A value as Handlebars.js prints it (no escaping)."""
    if value is None:
        return ""
    t = type(value)
    if t is str:
        return value
    if t is bool or t is np.bool_:
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        if f.is_integer() and abs(f) < 1e21:
            return str(int(f))
        return repr(f)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, HBList):
        return str(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(HBList(value))
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}
_ESCAPE_RE = re.compile(r"[&<>\"'`=]")


def escape_html(text: str) -> str:
    """Escape like Handlebars.js: ``& < > " ' ` =``."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


def _prepare_html(value: Any, should_escape: bool) -> Any:
    if value is None:
        return ""
    if type(value) is pybars.strlist:
        return value
    text = to_text(value)
    return escape_html(text) if should_escape else text


def _prepare_text(value: Any, should_escape: bool) -> Any:
    if value is None:
        return ""
    if type(value) is pybars.strlist:
        return value
    return to_text(value)


# --------------------------------------------------------------------------------------------
# core helpers (Pinpoint's set lives in helpers.py)


def is_options(value: Any) -> bool:
    """True for the ``options`` dict pybars3 passes to block helpers."""
    return type(value) is dict and "fn" in value and "inverse" in value and "root" in value


def _each(this: Any, options: dict, context: Any = None, *args: Any, **kwargs: Any) -> Any:
    if callable(context):
        context = context(this)
    if context is None or context is False:
        return options["inverse"](this)
    if isinstance(context, Mapping):
        keys = list(context.keys())[:EACH_LIMIT]
        items: list[tuple[Any, Any]] = [(k, context[k]) for k in keys]
    elif isinstance(context, (list, tuple, np.ndarray)):
        items = [(None, v) for v in list(context)[:EACH_LIMIT]]
    else:
        return options["inverse"](this)
    if not items:
        return options["inverse"](this)
    result = pybars.strlist()
    last = len(items) - 1
    for i, (key, value) in enumerate(items):
        scope = _pc.Scope(
            value, this, options["root"], index=i, key=key, first=i == 0, last=i == last
        )
        out = options["fn"](scope)
        if out is not None:
            result.grow(out)
    return result


def _section(this: Any, options: dict, context: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Mustache/Handlebars section semantics (``blockHelperMissing``)."""
    if callable(context):
        context = context(this)
    if context is True:
        return options["fn"](this)
    if context is None or context is False:
        return options["inverse"](this)
    if isinstance(context, (list, tuple, np.ndarray)):
        if len(context) == 0:
            return options["inverse"](this)
        return _each(this, options, context)
    if isinstance(context, (str, float, int)) and not context:
        return options["inverse"](this)
    return options["fn"](context)


def _unless(this: Any, options: dict, context: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``unless`` with ``{{else}}`` (pybars3's ignores the else branch)."""
    if callable(context):
        context = context(this)
    if isinstance(context, (list, tuple)):
        context = len(context) > 0
    return options["inverse"](this) if context else options["fn"](this)


def _or_name(this: Any, value: Any, name: str) -> Any:
    """A bare word in a name slot (``tz=America/Los_Angeles``): the variable, else the word."""
    return name if value is None else value


def _indented(this: Any, name: Any, code: str) -> Any:
    """The name of a partial's indented variant (a standalone dynamic partial)."""
    return f"{name}::{code}" if code and name else name


def _lookup(this: Any, context: Any, key: Any = None) -> Any:
    if context is None:
        return None
    try:
        if isinstance(context, HBList):
            return context[key]
        if isinstance(context, (list, tuple)):
            return context[int(key)]
        return context[key]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


CORE_HELPERS: dict[str, Callable[..., Any]] = {
    **_pc._pybars_["helpers"],
    "each": _each,
    "unless": _unless,
    "blockHelperMissing": _section,
    P.SECTION_HELPER: _section,
    P.OR_NAME_HELPER: _or_name,
    P.INDENTED_HELPER: _indented,
    "lookup": _lookup,
}

#: name -> helper; Pinpoint's helpers are added by :mod:`engagekit.templates.helpers`.
HELPERS: dict[str, Callable[..., Any]] = dict(CORE_HELPERS)
#: helpers whose output is not a function of their arguments (``uuid``): rendered per message.
VOLATILE_HELPERS: set[str] = set()
#: block helpers that call ``fn`` or ``inverse`` with the same context (``if``, ``eq`` ...).
CONDITIONAL_HELPERS: set[str] = {"if", "unless"}


def register_helper(
    name: str,
    fn: Callable[..., Any],
    *,
    volatile: bool = False,
    conditional: bool = False,
) -> None:
    """Add a helper for every template.

    ``fn(this, *args, **hash)``; as a block helper it receives ``options`` second. Mark
    ``volatile=True`` when its output is not determined by its arguments (random, clock), so
    batch rendering calls it once per message instead of once per distinct input.
    """
    HELPERS[name] = fn
    VOLATILE_HELPERS.discard(name)
    CONDITIONAL_HELPERS.discard(name)
    if volatile:
        VOLATILE_HELPERS.add(name)
    if conditional:
        CONDITIONAL_HELPERS.add(name)
    _CACHE.clear()


# --------------------------------------------------------------------------------------------
# compiler

_SAFESYMBOL = "(<letterOrDigit>|'_')+:symbol ']'? => start + u''.join(symbol)"
_GRAMMAR = _pc.handlebars_grammar
if _SAFESYMBOL in _GRAMMAR:  # accept one-character hash keys: {{h s="x"}}
    _GRAMMAR = _GRAMMAR.replace(_SAFESYMBOL, _SAFESYMBOL.replace(")+:symbol", ")*:symbol"), 1)


class _LazyGrammar:
    """Build engagekit's PEG grammar on first use (templates compiled from trees never need it)."""

    def __get__(self, obj: Any, owner: type) -> Any:
        grammar = OMeta.makeGrammar(_GRAMMAR, {}, "engagekit_handlebars")
        owner._handlebars = grammar  # type: ignore[attr-defined]
        return grammar


class _Tree:
    """A pybars3 token tree standing in for source (see :func:`_parse.tree`)."""

    def __init__(self, tree: list) -> None:
        self.tree = tree


class _Compiler(pybars.Compiler):
    """pybars3's compiler with engagekit's grammar; whitespace is already handled by _parse.

    Given a :class:`_Tree`, it skips pybars3's PEG parse (most of the compile time) and runs
    only pybars3's code generation.
    """

    _handlebars = _LazyGrammar()

    def whitespace_control(self, source: str) -> str:
        return source

    def _generate_code(self, source: Any) -> Any:
        if isinstance(source, _Tree):
            self._compiler.globals["builder"]._reset()
            return self._compiler(source.tree).apply("compile")[0]
        return super()._generate_code(source)


_COMPILER = _Compiler()
COMPILE_LOCK = threading.Lock()


def compile_source(source: str | _Tree, html: bool) -> Callable[..., Any]:
    """pybars3-compile emitted source or a tree (under the lock) with engagekit's printing."""
    with COMPILE_LOCK:
        fn = _COMPILER.compile(source)  # type: ignore[arg-type]
    fn.__globals__["prepare"] = _prepare_html if html else _prepare_text
    return fn


@dataclass
class CompiledPart:
    """One compiled template part: its tree, its pybars3 function and its partials."""

    source: str
    html: bool
    parsed: P.Parsed
    fn: Callable[..., Any]
    partials: dict[str, Callable[..., Any]]
    partial_nodes: dict[str, list[P.Node]]
    template: str | None = None
    part: str | None = None
    alias: dict[tuple[str, str], str] = field(default_factory=dict)  # (partial, indent) -> name
    _fragments: dict[int, Callable[..., Any]] = field(default_factory=dict)
    _tests: dict[int, list[P.Node]] = field(default_factory=dict)  # conditions of blocks

    def render(self, context: Any, *, endpoint_id: str | None = None) -> str:
        """Render against a context dict; errors name the template, part and endpoint."""
        try:
            return self.fn(context, helpers=HELPERS, partials=self.partials)
        except TemplateError:
            raise
        except Exception as exc:  # helpers raise plain exceptions on bad input
            raise TemplateError(
                _describe(exc), template=self.template, part=self.part, endpoint_id=endpoint_id
            ) from exc

    def fragment(self, nodes: list[P.Node]) -> Callable[..., Any]:
        """A compiled function rendering just ``nodes`` (used by batch rendering)."""
        key = id(nodes[0]) if len(nodes) == 1 else hash(tuple(id(n) for n in nodes))
        fn = self._fragments.get(key)
        if fn is None:
            fn = compile_nodes(nodes, self.alias, self.html, self.template, self.part)
            self._fragments[key] = fn
        return fn


def _describe(exc: Exception) -> str:
    msg = str(exc) or type(exc).__name__
    if isinstance(exc, pybars.PybarsError) and msg.startswith("Could not find property"):
        name = msg.rsplit(" ", 1)[-1]
        return f"unknown helper {name!r}: check the spelling or register it with register_helper"
    return msg


def compile_nodes(
    nodes: list[P.Node],
    alias: dict[tuple[str, str], str],
    html: bool,
    template: str | None = None,
    part: str | None = None,
) -> Callable[..., Any]:
    """Compile parsed nodes: straight from the tree when possible, else through source."""
    try:
        source: str | _Tree = _Tree(P.tree(nodes, alias))
    except P.Unsupported:
        source = P.emit(nodes, alias)
    return _compile_checked(source, html, template, part)


def _compile_checked(source: str | _Tree, html: bool, template: str | None, part: str | None):
    try:
        return compile_source(source, html)
    except pybars.PybarsError as exc:
        raise TemplateError(
            f"pybars3 cannot compile this: {exc}", template=template, part=part
        ) from exc


def _indent_code(indent: str) -> str:
    return indent.replace(" ", "s").replace("\t", "t")


def _collect_partials(nodes: list[P.Node], out: set[tuple[str, str]]) -> None:
    for node in nodes:
        if isinstance(node, P.Partial) and node.name is None and node.indent:
            out.add(("\x00dynamic", node.indent))
        elif isinstance(node, P.Partial) and node.name is not None:
            out.add((node.name, node.indent))
        elif isinstance(node, P.Block):
            _collect_partials(node.body, out)
            if node.inverse:
                _collect_partials(node.inverse, out)


_CACHE: dict[tuple, CompiledPart] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 512


def compile_part(
    source: str,
    *,
    html: bool = False,
    partials: Mapping[str, str] | None = None,
    template: str | None = None,
    version: int | None = None,
    part: str | None = None,
) -> CompiledPart:
    """Parse and compile one part; cached by (template, version, part, source, partials)."""
    partial_items = tuple(sorted((partials or {}).items()))
    key = (template, version, part, source, html, partial_items)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    parsed = P.parse(source, template=template, part=part)
    defs: dict[str, list[P.Node]] = {}
    for name, src in (partials or {}).items():
        if not isinstance(src, str):
            raise TemplateError(
                f"partial {name!r} must be template source (a string), not {type(src).__name__}",
                template=template,
                part=part,
            )
        defs[name] = P.parse(src, template=template, part=f"partial {name}").nodes
    defs.update(parsed.inline_partials)  # inline partials win, as in Handlebars.js
    # every (name, indentation) pair reachable from the part, compiled once
    wanted: set[tuple[str, str]] = set()
    _collect_partials(parsed.nodes, wanted)
    for body in defs.values():
        _collect_partials(body, wanted)
    alias: dict[tuple[str, str], str] = {}
    for marker in [w for w in wanted if w[0] == "\x00dynamic"]:  # any partial, indented
        wanted.discard(marker)
        wanted.update((name, marker[1]) for name in defs)
    todo = list(wanted)
    seen: set[tuple[str, str]] = set()
    while todo:
        name, indent = todo.pop()
        if (name, indent) in seen:
            continue
        seen.add((name, indent))
        if name not in defs:
            continue
        alias[(name, indent)] = name if not indent else f"{name}::{_indent_code(indent)}"
        if indent:
            nested: set[tuple[str, str]] = set()
            _collect_partials(P.indent_nodes(defs[name], indent), nested)
            todo.extend(nested)
    missing = sorted({n for n, _ in wanted if n not in defs})
    if missing:
        raise TemplateError(
            f"partial {missing[0]!r} is not defined; define it with "
            f'{{{{#* inline "{missing[0]}"}}}}...{{{{/inline}}}} or pass partials={{...}}',
            template=template,
            part=part,
        )
    compiled_partials: dict[str, Callable[..., Any]] = {}
    for name, nodes in defs.items():
        compiled_partials[name] = compile_nodes(nodes, alias, html, template, part)
    for (name, indent), name_alias in alias.items():
        if indent:
            nodes = P.indent_nodes(defs[name], indent)
            compiled_partials[name_alias] = compile_nodes(nodes, alias, html, template, part)
    fn = compile_nodes(parsed.nodes, alias, html, template, part)
    result = CompiledPart(source, html, parsed, fn, compiled_partials, defs, template, part, alias)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = result
    return result
