"""`interp dashboard`: help, the streamlit command line (localhost by default), a clear error without apps/."""

from __future__ import annotations

import pytest

import interp
import interp.dashboard_cli as dc
from interp.cli import main


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--runs" in out and "127.0.0.1" in out


def test_command_binds_localhost_by_default():
    cmd = dc.streamlit_command()
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8501"
    app = cmd[cmd.index("run") + 1]
    assert app.endswith("apps/dashboard.py") and dc.app_path().is_file()


def test_dashboard_starts_streamlit_on_the_runs_folder(tmp_path, monkeypatch, capsys):
    seen = {}

    class FakeServer:
        def wait(self):
            return 0

    def fake_start(runs, port, host, headless):
        seen.update(runs=runs, port=port, host=host, headless=headless)
        return FakeServer()

    monkeypatch.setattr(dc, "start_server", fake_start)
    assert main(["dashboard", "--runs", str(tmp_path), "--port", "8765", "--headless"]) == 0
    assert seen == {"runs": tmp_path.resolve(), "port": 8765, "host": "127.0.0.1", "headless": True}
    assert "http://localhost:8765" in capsys.readouterr().out


def test_missing_apps_folder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "interp").mkdir()
    monkeypatch.setattr(interp, "__file__", str(tmp_path / "interp" / "__init__.py"))
    with pytest.raises(FileNotFoundError, match="project checkout"):
        dc.app_path()
    assert main(["dashboard"]) == 2
    assert "apps/dashboard.py" in capsys.readouterr().err


def test_a_port_out_of_range_is_refused_before_streamlit_starts(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["dashboard", "--port", "99999"])
    assert exit_.value.code == 2 and "--port: must be a port number from 1 to 65535" in capsys.readouterr().err
