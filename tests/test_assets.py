"""Offline dashboard files: installed from npm or a bundle, idempotent, never downloaded by visdom.

Each test works on a private copy of the installed visdom package with the dashboard files
removed, put first on PYTHONPATH of the subprocesses it runs, so the shared environment is never
touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from visdomkit import assets


def _bare_visdom(tmp_path: Path) -> Path:
    """A copy of the installed visdom with none of the files `assets install` writes."""
    site = tmp_path / "site"
    src = assets.visdom_dir()
    manifest = json.loads((src / "static" / assets.MANIFEST_NAME).read_text())
    ours = set(manifest["files"]) | {f"static/{assets.MANIFEST_NAME}", "static/version.built"}
    shutil.copytree(
        src,
        site / "visdom",
        ignore=lambda d, names: [
            n for n in names if (Path(d) / n).relative_to(src).as_posix() in ours
        ],
    )
    return site


def _run(site: Path, code: str, *, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cli(site: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    code = f"import sys; from visdomkit.cli import main; sys.exit(main({list(args)!r}))"
    return _run(site, code, path=path)


_NO_NPM_PATH = os.pathsep.join(  # this interpreter's folder, without node/npm
    [str(Path(sys.executable).parent), "/nonexistent"]
)

# visdom's own download step, with every network call made to fail loudly.
_VISDOM_DOWNLOAD_FORBIDDEN = """
    import visdom, requests
    from unittest import mock
    from visdom.server import build
    def forbidden(*a, **k):
        raise AssertionError(f"visdom tried to download: {a}")
    with mock.patch.object(build.request, "build_opener", lambda *a: mock.Mock(open=forbidden)), \
         mock.patch("requests.get", forbidden):
        build.download_scripts()
    print("no download", visdom.__file__)
"""


def test_wanted_files_come_from_visdoms_own_build_script():
    wanted = {a.dest: a for a in assets.wanted_files()}
    plotly = wanted["static/js/plotly-plotly.min.js"]
    assert (plotly.package, plotly.version) == ("plotly.js-dist-min", "2.11.1")
    assert wanted["static/js/jquery.min.js"].package == "jquery"
    assert wanted["static/js/d3.v3.min.js"].package == "d3"
    assert any(a.package == "mathjax" for a in wanted.values())
    # every file the page itself loads is covered
    assert set(assets.page_references()) - {"static/js/main.js", "static/css/style.css"} <= set(
        wanted
    ) | {"static/css/network.css", "static/css/rc-tree-select-overrides.css"}


def test_unknown_cdn_url_is_a_clear_error():
    with pytest.raises(assets.AssetError, match="which npm package"):
        assets._to_npm("https://example.invalid/some/thing.js", "static/js/thing.js")


@pytest.mark.network
@pytest.mark.slow
def test_install_from_npm_is_idempotent_and_stops_visdom_downloading(tmp_path):
    site = _bare_visdom(tmp_path)
    before = _cli(site, "assets", "verify")
    assert before.returncode == 1 and "missing: static/js/plotly-plotly.min.js" in before.stdout

    first = _cli(site, "assets", "install")
    assert first.returncode == 0, first.stderr
    assert "installed" in first.stdout
    static = site / "visdom" / "static"
    assert (static / "js" / "plotly-plotly.min.js").stat().st_size > 1_000_000
    assert b"Plotly" in (static / "js" / "plotly-plotly.min.js").read_bytes()[:5000]

    # Second run: nothing to do, and it does not even need npm.
    second = _cli(site, "assets", "install", path=_NO_NPM_PATH)
    assert second.returncode == 0, second.stderr
    assert "already installed and verified" in second.stdout
    assert _cli(site, "assets", "verify").returncode == 0

    checked = _run(site, _VISDOM_DOWNLOAD_FORBIDDEN)
    assert checked.returncode == 0, checked.stderr
    assert str(site) in checked.stdout


@pytest.mark.network
@pytest.mark.slow
def test_bundle_installs_offline_and_the_dashboard_serves(tmp_path):
    bundle = tmp_path / "visdom-assets.tar.gz"
    made = _cli(_bare_visdom(tmp_path / "a"), "assets", "bundle", str(bundle))
    assert made.returncode == 0, made.stderr
    site = _bare_visdom(tmp_path / "b")
    installed = _cli(site, "assets", "install", "--bundle", str(bundle), path=_NO_NPM_PATH)
    assert installed.returncode == 0, installed.stderr

    # A corrupted bundle is refused, naming the file.
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    refused = _cli(_bare_visdom(tmp_path / "c"), "assets", "install", "--bundle", str(broken))
    assert refused.returncode == 1

    envs = str(tmp_path / "envs")
    server_code = f"""
        import requests
        from visdomkit.server import VisdomServer
        with VisdomServer(env_path={envs!r}) as s:
            for path in ("/", "/static/js/plotly-plotly.min.js", "/static/js/jquery.min.js",
                         "/static/fonts/glyphicons-halflings-regular.woff2",
                         "/static/js/layout_bin_packer.js"):
                print(path, requests.get(s.url + path, timeout=10).status_code)
        print(open(s.log_path).read())
    """
    served = _run(site, server_code)
    assert served.returncode == 0, served.stderr
    for path in ("/ ", "plotly-plotly.min.js ", "jquery.min.js ", "woff2 ", "layout_bin_packer"):
        line = next(line for line in served.stdout.splitlines() if path in line + " ")
        assert line.endswith(" 200"), line
    assert "will not render" not in served.stdout


def test_server_without_assets_starts_and_says_how_to_fix(tmp_path):
    site = _bare_visdom(tmp_path)
    envs = str(tmp_path / "envs")
    code = f"""
        import visdom
        from visdomkit.server import VisdomServer
        with VisdomServer(env_path={envs!r}) as s:
            viz = visdom.Visdom(server="http://127.0.0.1", port=s.port, env="api",
                                use_incoming_socket=False, raise_exceptions=True)
            viz.text("the API works", win="t")
            print("exists", viz.win_exists("t", env="api"))
        print(open(s.log_path).read())
    """
    result = _run(site, code, path=_NO_NPM_PATH)
    assert result.returncode == 0, result.stderr
    assert "exists True" in result.stdout
    assert "the dashboard will not render" in result.stdout
    assert "python -m visdomkit assets install" in result.stdout


def test_tornado_shim_renders_the_page(visdom_server):
    import tornado
    import tornado.web

    page = requests.get(visdom_server.url, timeout=10)
    assert page.status_code == 200
    assert "/static/../user/style.css" in page.text  # visdom's out-of-root stylesheet link
    assert requests.get(visdom_server.url + "/user/style.css", timeout=10).status_code == 200
    # Serving is as strict as before: the shim only changes how the link is written.
    traversal = requests.get(visdom_server.url + "/static/..%2f..%2fserver%2fapp.py", timeout=10)
    assert traversal.status_code in (403, 404)
    if tornado.version_info >= (6, 5):
        # Without the shim, tornado refuses to write that link at all (the 403 we work around).
        with pytest.raises(tornado.web.HTTPError) as refused:
            tornado.web.StaticFileHandler.get_version(
                {"static_path": str(assets.visdom_dir() / "static")}, "../user/style.css"
            )
        assert refused.value.status_code == 403


def test_tornado_shim_is_only_applied_in_the_server_process():
    from visdom.server import app as visdom_app

    assert "static_handler_class" not in visdom_app.tornado_settings
