"""Shared fixtures. Servers tests need (moto, aiosmtpd, HTTP) are started here and stopped after."""

from __future__ import annotations

from pathlib import Path

import pytest

from engagekit.project import Project

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is absent (a user's fresh clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: ../shared holds reference data only CI and developers have")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A new, empty project in a temporary folder."""
    return Project.create(tmp_path / "proj", name="test")


@pytest.fixture(scope="session")
def moto_server():
    """A moto server on 127.0.0.1 for the whole session; yields its endpoint URL.

    boto3 clients made with :func:`aws_client` talk to it through real HTTP.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        mp.setenv(key, value)
    try:
        yield url
    finally:
        mp.undo()
        server.stop()


@pytest.fixture
def aws_reset(moto_server: str) -> str:
    """Reset the moto server's state before a test; yields the endpoint URL."""
    import requests

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return moto_server


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory):
    """The demo's whole job on small data, built once per test session (report not rendered)."""
    from engagekit.demo import build_demo

    root = tmp_path_factory.mktemp("demo") / "project"
    return build_demo(root, endpoints=3_000, seed=11, report=False, progress=False,
                      say=lambda *_: None)  # fmt: skip
