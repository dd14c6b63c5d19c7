"""``engagekit templates list|show|render --project P``: templates stored in a project."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engagekit.errors import DefinitionError
from engagekit.project import Project


def _project(args: argparse.Namespace) -> Project:
    return Project.open(args.project)


def _cmd_list(args: argparse.Namespace) -> int:
    from engagekit.templates import list_templates

    frame = list_templates(_project(args))
    if frame.empty:
        print("no templates yet: save one with engagekit.templates.save_template")
        return 0
    print(frame.to_string(index=False))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from engagekit.templates import load_template, template_versions

    project = _project(args)
    template = load_template(project, args.name, args.version)
    if args.pinpoint:
        print(json.dumps(template.to_pinpoint(), indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(template.to_json(), indent=2, ensure_ascii=False))
    if args.versions:
        print(template_versions(project, args.name).to_string(index=False))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from engagekit.templates import load_template, render_message

    project = _project(args)
    template = load_template(project, args.name, args.version)
    if args.context:
        context = json.loads(Path(args.context).read_text(encoding="utf-8"))
    elif args.endpoint:
        try:
            from engagekit.endpoints import read_endpoints
        except ImportError as exc:  # pragma: no cover - the endpoints area provides it
            raise DefinitionError(
                "reading the project's endpoints needs engagekit.endpoints.read_endpoints"
            ) from exc
        frame = read_endpoints(project)
        match = frame[frame["Id"].astype(str) == args.endpoint]
        if match.empty:
            raise DefinitionError(f"endpoint {args.endpoint!r} is not in the project's endpoints")
        context = match.iloc[0]
    else:
        context = {}
    parts = render_message(template, context, name=args.name)
    for part, text in parts.items():
        if args.part and part != args.part:
            continue
        if not args.part:
            print(f"--- {part} ---")
        print(text)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("templates", help="message templates stored in a project")
    sub = p.add_subparsers(dest="templates_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="templates with their type and versions")
    ls.add_argument("--project", "-p", type=Path, default=Path("."))
    ls.set_defaults(func=_cmd_list)

    show = sub.add_parser("show", help="a template's JSON (engagekit's, or --pinpoint)")
    show.add_argument("name")
    show.add_argument("--project", "-p", type=Path, default=Path("."))
    show.add_argument("--version", type=int, default=None, help="default: the active version")
    show.add_argument("--pinpoint", action="store_true", help="Pinpoint's TemplateRequest JSON")
    show.add_argument("--versions", action="store_true", help="also list every version")
    show.set_defaults(func=_cmd_show)

    render = sub.add_parser("render", help="render a template for one endpoint or a JSON context")
    render.add_argument("name")
    render.add_argument("--project", "-p", type=Path, default=Path("."))
    render.add_argument("--version", type=int, default=None)
    render.add_argument("--endpoint", help="an endpoint id from the project's endpoints")
    render.add_argument("--context", help="a JSON file with the message variables")
    render.add_argument("--part", help="print only this part (Subject, HtmlPart, Body...)")
    render.set_defaults(func=_cmd_render)
