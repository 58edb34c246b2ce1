"""bench/profile.py: reading py-spy's raw stacks, and a real py-spy run against a
process whose busy function is known."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bench.profile import Frame, bucket, parse_stack, record, summarise

PROCESS = 'process 42:"/usr/bin/python3 -m keyturn serve --port 8000"'
SITE = "/srv/.venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"


def test_a_stack_loses_the_process_frame_and_keeps_the_rest_in_order() -> None:
    line = (
        f"{PROCESS};<module> (/srv/keyturn/__main__.py:3);"
        f"Runner.run ({STDLIB}/asyncio/runners.py:118);"
        f"token_endpoint (/srv/keyturn/http/token.py:40) 7\n"
    )
    parsed = parse_stack(line)
    assert parsed is not None
    frames, count = parsed
    assert count == 7
    assert [frame.function for frame in frames] == ["<module>", "Runner.run", "token_endpoint"]
    assert frames[-1].file == "/srv/keyturn/http/token.py"


def test_malformed_lines_are_skipped() -> None:
    assert parse_stack("") is None
    assert parse_stack("no count here") is None
    assert parse_stack("f (a.py:1) seven") is None


def test_components_name_packages_stdlib_keyturn_modules_and_the_native_loop() -> None:
    assert bucket(Frame("send", f"{SITE}/uvicorn/protocols/http/httptools_impl.py")) == "uvicorn"
    assert bucket(Frame("dumps", f"{STDLIB}/json/__init__.py")) == "stdlib json"
    assert bucket(Frame("new", f"{STDLIB}/hmac.py")) == "stdlib hmac"
    assert bucket(Frame("mint", "/srv/keyturn/oauth/tokens.py")) == "keyturn.oauth.tokens"
    assert bucket(Frame("f", "/srv/keyturn/store/__init__.py")) == "keyturn.store"
    assert bucket(Frame("Runner.run", f"{STDLIB}/asyncio/runners.py")) == "event loop (native)"
    assert bucket(Frame("__create_fn__.<locals>.__init__", "<string>")) == "dataclass methods"


def test_summary_counts_components_by_innermost_frame_and_functions_inclusively() -> None:
    lines = [
        f"{PROCESS};a (/srv/keyturn/http/app.py:1);b (/srv/keyturn/oauth/tokens.py:2) 3",
        f"{PROCESS};a (/srv/keyturn/http/app.py:1);dumps ({STDLIB}/json/__init__.py:9) 2",
        # Recursion: `a` is on the stack twice but is charged once for this sample.
        f"{PROCESS};a (/srv/keyturn/http/app.py:1);a (/srv/keyturn/http/app.py:5) 1",
        f"{PROCESS} 4",
    ]
    profile = summarise(lines)
    assert profile.samples == 10
    assert profile.components == {
        "keyturn.oauth.tokens": 3,
        "stdlib json": 2,
        "keyturn.http.app": 1,
        "(no Python frame)": 4,
    }
    assert profile.functions["keyturn.http.app.a"] == 6
    assert profile.functions["keyturn.oauth.tokens.b"] == 3
    assert profile.share(profile.components, "stdlib json") == 0.2


def test_py_spy_records_the_busy_function_of_a_real_process(tmp_path: Path) -> None:
    program = tmp_path / "keyturn" / "busy.py"
    program.parent.mkdir()
    program.write_text(
        textwrap.dedent(
            """
            import sys, time

            def spin():
                deadline = time.monotonic() + 8
                print("ready", flush=True)
                while time.monotonic() < deadline:
                    sum(range(500))

            spin()
            """
        )
    )
    out = tmp_path / "raw.txt"
    with subprocess.Popen(
        [sys.executable, str(program)], stdout=subprocess.PIPE, text=True
    ) as busy:
        try:
            assert busy.stdout is not None and busy.stdout.readline() == "ready\n"
            with record(busy.pid, 2, out) as spy:
                _, errors = spy.communicate(timeout=30)
            assert spy.returncode == 0, errors.decode(errors="replace")
        finally:
            busy.kill()
    profile = summarise(out.read_text().splitlines())
    assert profile.samples > 100  # 250 a second for 2 s, of a process that never idles
    assert profile.share(profile.components, "keyturn.busy") > 0.9
    assert profile.share(profile.functions, "keyturn.busy.spin") > 0.9
