"""Executing notebooks with papermill and turning them into self-contained HTML reports.

Parameters go into the executed notebook (papermill writes them into a cell), so nothing secret
may ever be a parameter: :func:`execute_notebook` refuses parameters whose values equal a value of
a credential-like environment variable.

    >>> from engagekit.notebooks import execute_notebook, notebook_to_html
    >>> out = execute_notebook("reports/campaign_report.ipynb", "out.ipynb",
    ...                        {"PROJECT_DIR": "demo-project"})          # doctest: +SKIP
    >>> notebook_to_html(out, "campaign_report.html")                    # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from engagekit.errors import EngagekitError

#: Where the project's notebooks live (a source checkout or an editable install).
REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS_DIR = REPO_ROOT / "reports"

_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY)", re.I)


class NotebookError(EngagekitError):
    """A notebook failed; ``cell_index`` and ``output_path`` locate the failure."""

    def __init__(
        self,
        notebook: Path,
        message: str,
        *,
        output_path: Path | None = None,
        cell_index: int | None = None,
    ) -> None:
        where = f" (cell {cell_index})" if cell_index is not None else ""
        kept = f"; the executed copy is {output_path}" if output_path else ""
        super().__init__(f"notebook {notebook}{where} failed: {message}{kept}")
        self.notebook = notebook
        self.output_path = output_path
        self.cell_index = cell_index


def secret_values() -> set[str]:
    """Values of credential-like environment variables (never allowed into a notebook)."""
    return {
        value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= 6
    }


def check_parameters(parameters: dict[str, Any]) -> None:
    """Refuse a parameter that carries a credential from the environment."""
    secrets = secret_values()
    for key, value in parameters.items():
        if isinstance(value, str) and any(s in value for s in secrets):
            raise EngagekitError(
                f"notebook parameter {key!r} holds the value of a credential environment variable; "
                "credentials come from the environment or boto3's chain, never from parameters"
            )


def execute_notebook(
    notebook: Path | str,
    output: Path | str,
    parameters: dict[str, Any] | None = None,
    *,
    cwd: Path | str | None = None,
    timeout: int = 1800,
    progress: bool = False,
) -> Path:
    """Run a notebook in a real kernel with papermill; the executed copy goes to ``output``."""
    import papermill as pm

    params = dict(parameters or {})
    check_parameters(params)
    src = Path(notebook)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(src),
            str(out),
            parameters=params,
            cwd=str(cwd if cwd is not None else src.parent),
            kernel_name="python3",
            progress_bar=progress,
            execution_timeout=timeout,
            log_output=False,
            report_mode=False,
        )
    except pm.PapermillExecutionError as exc:
        raise NotebookError(
            src, f"{exc.ename}: {exc.evalue}", output_path=out, cell_index=exc.cell_index
        ) from exc
    return out


def notebook_to_html(notebook: Path | str, output: Path | str, *, title: str | None = None) -> Path:
    """Convert an executed notebook to one self-contained HTML file without code.

    Inputs and prompts are removed, charts stay embedded as base64 images, and no script is
    loaded from the network (MathJax is dropped), so the file opens anywhere, offline.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.mathjax_url = ""
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"<script[^>]+src=\"https?://[^\"]+\"[^>]*>\s*</script>", "", body)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
