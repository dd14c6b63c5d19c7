"""The Mustache specification's cases, run through engagekit's renderer.

Handlebars (Pinpoint's dialect) is a superset of Mustache for most of the spec. The cases it
deliberately does differently are marked ``xfail`` with the reason; ``xfail`` is strict, so a
case that starts passing is noticed. ``python tests/test_mustache_spec.py`` prints the pass
count per file (the table in README's "Mustache spec" section).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import SHARED, shared_path

from engagekit.templates import render

SPEC_DIR = SHARED / "peer-tests" / "mustache-spec"

CONTEXT_STACK = (
    "Mustache looks names up the context stack; Handlebars and Pinpoint resolve them in the "
    "current context only (write ../name)"
)
MISSING_PARTIAL = (
    "a missing partial is an error, as in Handlebars.js, never a silently empty message"
)
DELIMITERS = (
    "set-delimiter tags ({{=<% %>=}}) are Mustache-only; Handlebars and Pinpoint do not have "
    "them, so engagekit rejects them with a TemplateError"
)
INHERITANCE = (
    "Mustache template inheritance ({{<parent}}{{$block}}) is not Handlebars; Pinpoint "
    "templates use inline partials instead"
)
LAMBDAS = (
    "values are data: engagekit never calls or re-parses a context value (Pinpoint message "
    "variables are JSON, and a value containing {{...}} must print as text)"
)
DOTTED_KEY = (
    "render() reads a mapping with dotted keys as a flat endpoint record (Pinpoint column "
    "names such as 'User.UserAttributes.FirstName'), so {'a.b': 'c'} is the path a.b"
)
MULTI_DEREFERENCE = (
    "'{{>**name}}' and '{{>*a.*b}}' are compile errors in engagekit, not empty partials"
)

KNOWN_GAPS: dict[tuple[str, str], str] = {
    ("interpolation.json", "Dotted Names are never single keys"): DOTTED_KEY,
    ("partials.json", "Failed Lookup"): MISSING_PARTIAL,
    ("sections.json", "Parent contexts"): CONTEXT_STACK,
    ("sections.json", "Variable test"): CONTEXT_STACK,
    ("sections.json", "List Contexts"): CONTEXT_STACK,
    ("sections.json", "Deeply Nested Contexts"): CONTEXT_STACK,
    ("~dynamic-names.json", "Context Misses - Partial"): MISSING_PARTIAL,
    ("~dynamic-names.json", "Failed Lookup - Partial"): MISSING_PARTIAL,
    ("~dynamic-names.json", "Dotted Names - Operator Precedence"): MISSING_PARTIAL,
    ("~dynamic-names.json", "Dotted names - Context Stacking"): CONTEXT_STACK,
    ("~dynamic-names.json", "Dotted names - Context Stacking Under Repetition"): CONTEXT_STACK,
    ("~dynamic-names.json", "Dotted names - Context Stacking Failed Lookup"): CONTEXT_STACK,
    ("~dynamic-names.json", "Recursion"): CONTEXT_STACK,
    ("~dynamic-names.json", "Dynamic Names - Double Dereferencing"): MULTI_DEREFERENCE,
    ("~dynamic-names.json", "Dynamic Names - Composed Dereferencing"): MULTI_DEREFERENCE,
}
WHOLE_FILE_GAPS = {
    "delimiters.json": DELIMITERS,
    "~inheritance.json": INHERITANCE,
    "~lambdas.json": LAMBDAS,
}


#: cases of those files that pass anyway (they do not exercise the missing feature)
WHOLE_FILE_PASSES = {("~lambdas.json", "Inverted Section")}


def _cases() -> list:
    if not SPEC_DIR.exists():
        return [pytest.param(None, None, id="mustache-spec-absent")]
    out = []
    for file in sorted(SPEC_DIR.glob("*.json")):
        for case in json.loads(file.read_text(encoding="utf-8"))["tests"]:
            reason = KNOWN_GAPS.get((file.name, case["name"]))
            if (
                reason is None
                and file.name in WHOLE_FILE_GAPS
                and ((file.name, case["name"]) not in WHOLE_FILE_PASSES)
            ):
                reason = WHOLE_FILE_GAPS[file.name]
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            out.append(pytest.param(file.name, case, id=f"{file.stem}:{case['name']}", marks=marks))
    return out


def _render(case: dict) -> str:
    return render(case["template"], case["data"], partials=case.get("partials"))


def _passes(case: dict) -> bool:
    try:
        return _render(case) == case["expected"]
    except Exception:
        return False


@pytest.mark.parametrize(("file", "case"), _cases())
def test_mustache_spec_case(file, case):
    shared_path("peer-tests", "mustache-spec")
    assert _render(case) == case["expected"], case["desc"]


def pass_counts(spec_dir: Path = SPEC_DIR) -> dict[str, tuple[int, int]]:
    """File -> (passing cases, cases)."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for file in sorted(spec_dir.glob("*.json")):
        for case in json.loads(file.read_text(encoding="utf-8"))["tests"]:
            total[file.name] += 1
            passed[file.name] += _passes(case)
    return {name: (passed[name], total[name]) for name in total}


if __name__ == "__main__":
    print("| file | passing | cases |\n|---|---|---|")
    for name, (ok, n) in pass_counts().items():
        print(f"| {name} | {ok} | {n} |")
