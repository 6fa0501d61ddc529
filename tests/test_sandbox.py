"""The sandbox that runs a check against a candidate file set, and the tracer: real venvs and real processes.

One environment (a venv with a small wheel installed by pip) and one staged sandbox are shared by the module. The
staged package ``pkg`` exercises every way a file gets used: imports (also in a child process), ``open()``, a
directory listing, a script, an entry point, and a real C library that is loaded *only* as the DT_NEEDED
dependency of another one (``libtop.so`` → ``libdep.so``), which only ``/proc/self/maps`` can reveal.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from synth import SynthWheel

from slimwheel.check import Check, CheckError, checks_fingerprint
from slimwheel.contents import read_wheel
from slimwheel.errors import ExitCode
from slimwheel.learn import item_keys
from slimwheel.sandbox import Environment, RunResult, Sandbox, _script_text
from slimwheel.trace import bootstrap_dir, bytecode_source, item_key, key_path, path_key, read_traces

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups, /proc/self/maps")

CACHE_TAG = sys.implementation.cache_tag

DEP_C = "int dep_value(void) { return 7; }\n"
TOP_C = "int dep_value(void);\nint top_value(void) { return dep_value() + 1; }\n"

PACKAGE: dict[str, str] = {
    "pkg/__init__.py": "from . import core\n",
    "pkg/core.py": "VALUE = 42\n\n\ndef main():\n    print('entry point', VALUE)\n",
    "pkg/unused.py": "UNUSED = True\n",
    "pkg/childonly.py": "CHILD = 1\n",
    "pkg/reader.py": """
        import os
        with open(os.path.join(os.path.dirname(__file__), "data", "config.txt")) as handle:
            CONFIG = handle.read()
        """,
    "pkg/lister.py": """
        import os
        NAMES = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "listed")))
        """,
    "pkg/native.py": """
        import ctypes, os
        _lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "..", "pkg.libs", "libtop.so"))
        def top_value():
            return _lib.top_value()
        """,
    "pkg/data/config.txt": "answer=42\n",
    "pkg/listed/a.txt": "a\n",
    "pkg/listed/b.txt": "b\n",
    "sitecustomize.py": "import os\nos.environ['PKG_SITECUSTOMIZE'] = 'ran'\n",
    "<scripts>/pkg-hello": "#!python\nimport pkg\nprint('hello', pkg.core.VALUE)\n",
    "pkg-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: pkg\nVersion: 0.1\n",
    "pkg-0.1.dist-info/entry_points.txt": "[console_scripts]\npkg-ep = pkg.core:main\n",
}
CORE = frozenset({"pkg/__init__.py", "pkg/core.py"})
NATIVE = CORE | {"pkg/native.py", "pkg.libs/libtop.so", "pkg.libs/libdep.so"}
MakeTree = Callable[..., Path]


def _source(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("check-cache")


@pytest.fixture(scope="module")
def helper_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A requirement of the check, installed into the environment (not into candidate trees)."""
    wheel = SynthWheel(name="helperdist", version="1.0", files={"helpermod.py": b"ANSWER = 41\n"})
    return wheel.build(tmp_path_factory.mktemp("helper"))


@pytest.fixture(scope="module")
def env(cache_dir: Path, helper_wheel: Path) -> Environment:
    started = time.perf_counter()
    environment = Environment.create(cache_dir, wheels=[helper_wheel])
    print(f"\ncheck environment created in {time.perf_counter() - started:.2f} s (venv + pip install of one wheel)")
    return environment


@pytest.fixture(scope="module")
def native_libs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """``libtop.so`` needs ``libdep.so`` (DT_NEEDED, found through ``$ORIGIN``)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to compile the shared libraries")
    directory = tmp_path_factory.mktemp("native")
    (directory / "dep.c").write_text(DEP_C)
    (directory / "top.c").write_text(TOP_C)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "libdep.so", "dep.c"], cwd=directory, check=True)
    command = ["gcc", "-shared", "-fPIC", "-o", "libtop.so", "top.c", "-L.", "-ldep", "-Wl,-rpath,$ORIGIN"]
    subprocess.run(command, cwd=directory, check=True)
    return {name: (directory / name).read_bytes() for name in ("libdep.so", "libtop.so")}


@pytest.fixture(scope="module")
def sandbox(env: Environment, native_libs: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    files = {key: _source(text) for key, text in PACKAGE.items()}
    files |= {f"pkg.libs/{name}": data for name, data in native_libs.items()}
    modes = {f"pkg.libs/{name}": 0o755 for name in native_libs}
    box = Sandbox(env, tmp_path_factory.mktemp("sandbox"))
    started = time.perf_counter()
    box.stage(files, modes)
    print(f"\nstaged {len(files)} items (with bytecode) in {time.perf_counter() - started:.3f} s")
    return box


@pytest.fixture
def make_tree(sandbox: Sandbox) -> Iterator[MakeTree]:
    trees: list[Path] = []

    def make(kept: frozenset[str] | set[str], overrides: dict[str, bytes] | None = None) -> Path:
        trees.append(sandbox.tree(kept, overrides))
        return trees[-1]

    yield make
    for tree in trees:
        sandbox.discard(tree)


def run(
    sandbox: Sandbox,
    kept: frozenset[str] | set[str],
    check: Check,
    *,
    timeout: float = 30,
    trace: bool = False,
    calls: bool = False,
) -> RunResult:
    tree = sandbox.tree(kept)
    try:
        return sandbox.run(tree, check, timeout=timeout, trace=trace, calls=calls)
    finally:
        sandbox.discard(tree)


def py(code: str) -> Check:
    return Check(("python", "-c", textwrap.dedent(code)), "inline")


# ---------------------------------------------------------------------------------------------------------------
# Item keys and the tree layout
# ---------------------------------------------------------------------------------------------------------------


def test_item_keys_of_a_wheel(tmp_path: Path) -> None:
    wheel = SynthWheel(
        name="demo",
        files={
            "demo/__init__.py": b"",
            "demo/sub/mod.py": b"",
            "demo-1.0.data/scripts/demo-cli": b"#!python\n",
            "demo-1.0.data/data/share/demo/x.txt": b"x",
            "demo-1.0.data/headers/demo.h": b"",
            "demo-1.0.data/platlib/demo_native.py": b"",
        },
        entry_points={"console_scripts": {"demo": "demo:main"}},
    )
    keys = item_keys(read_wheel(wheel.build(tmp_path)))
    assert keys == {
        "demo/__init__.py": "demo/__init__.py",
        "demo/sub/mod.py": "demo/sub/mod.py",
        "demo-1.0.data/scripts/demo-cli": "<scripts>/demo-cli",
        "demo-1.0.data/data/share/demo/x.txt": "<data>/share/demo/x.txt",
        "demo-1.0.data/headers/demo.h": "<headers>/demo.h",
        "demo-1.0.data/platlib/demo_native.py": "demo_native.py",
        "demo-1.0.dist-info/METADATA": "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/WHEEL": "demo-1.0.dist-info/WHEEL",
        "demo-1.0.dist-info/entry_points.txt": "demo-1.0.dist-info/entry_points.txt",
    }  # no RECORD


def test_two_entries_installing_to_the_same_file_are_refused(tmp_path: Path) -> None:
    wheel = SynthWheel(name="demo", files={"demo.py": b"", "demo-1.0.data/purelib/demo.py": b""})
    with pytest.raises(CheckError, match="install to the same file"):
        item_keys(read_wheel(wheel.build(tmp_path)))


def test_keys_map_to_tree_paths_and_back() -> None:
    cases = {
        ("purelib", "numpy/linalg/_linalg.py"): ("numpy/linalg/_linalg.py", "site/numpy/linalg/_linalg.py"),
        ("platlib", "numpy.libs/x.so"): ("numpy.libs/x.so", "site/numpy.libs/x.so"),
        ("scripts", "f2py"): ("<scripts>/f2py", "bin/f2py"),
        ("data", "share/x"): ("<data>/share/x", "data/share/x"),
        ("headers", "x.h"): ("<headers>/x.h", "headers/x.h"),
    }
    for (scheme, installed), (key, relative) in cases.items():
        assert item_key(scheme, installed) == key
        assert key_path(key) == relative
        assert path_key(relative) == key
    for bad in ("../x", "a//b", "<other>/x", "/abs", "a/./b"):
        with pytest.raises(ValueError):
            key_path(bad)
    assert bytecode_source(f"site/pkg/__pycache__/core.{CACHE_TAG}.pyc") == "site/pkg/core.py"
    assert bytecode_source(f"site/__pycache__/top.{CACHE_TAG}.opt-1.pyc") == "site/top.py"
    assert bytecode_source("site/pkg/core.pyc") is None


# ---------------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------------


def test_check_script_and_identity(tmp_path: Path) -> None:
    script = tmp_path / "run_model.py"
    script.write_text("print('one')\n")
    check = Check.script(script)
    assert check.argv == ("python", str(script.resolve())) and check.label == "run_model.py"
    before = check.identity()
    assert Check.script(script).identity() == before
    script.write_text("print('two')\n")
    assert check.identity() != before  # editing the script invalidates caches
    with pytest.raises(CheckError, match="does not exist") as info:
        Check.script(tmp_path / "missing.py")
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_check_fingerprint_is_the_same_in_any_checkout(tmp_path: Path) -> None:
    """Locks record the fingerprint: a script's name and content count, not where the checkout is."""
    a, b = tmp_path / "a" / "run_model.py", tmp_path / "b" / "run_model.py"
    for path in (a, b):
        path.parent.mkdir()
        path.write_text("print('one')\n")
    assert Check.script(a).fingerprint() == Check.script(b).fingerprint()
    assert Check.script(a).identity() != Check.script(b).identity()  # caches stay per location
    b.write_text("print('two')\n")
    assert Check.script(a).fingerprint() != Check.script(b).fingerprint()
    renamed = tmp_path / "a" / "other.py"
    renamed.write_text("print('one')\n")
    assert Check.script(renamed).fingerprint() != Check.script(a).fingerprint()
    both = checks_fingerprint([Check.script(a), Check.command("python -c pass")])
    assert both.split("; ") == [Check.script(a).fingerprint(), Check.command("python -c pass").fingerprint()]


def test_check_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke.py").write_text("pass\n")
    check = Check.command("python smoke.py --flag 'two words'")
    assert check.argv == ("python", str(tmp_path / "smoke.py"), "--flag", "two words")  # runs in an empty dir
    assert check.label == "python smoke.py --flag 'two words'"
    assert Check.command("pytest -q").argv == ("pytest", "-q")
    for bad in ("", "   ", "python 'unclosed"):
        with pytest.raises(CheckError):
            Check.command(bad)


# ---------------------------------------------------------------------------------------------------------------
# The environment
# ---------------------------------------------------------------------------------------------------------------


def test_environment_is_created_once_then_reused(env: Environment, cache_dir: Path, helper_wheel: Path) -> None:
    marker = env.root / "slimwheel-env.json"
    installed = next(env.site_packages.glob("helperdist-1.0.dist-info"))
    stamps = (marker.stat().st_mtime_ns, installed.stat().st_ino, env.python.lstat().st_ino)
    started = time.perf_counter()
    again = Environment.create(cache_dir, wheels=[helper_wheel])
    elapsed = time.perf_counter() - started
    print(f"\nreusing the environment took {elapsed * 1000:.0f} ms")
    assert again.root == env.root and again.python == env.python
    installed = next(again.site_packages.glob("helperdist-1.0.dist-info"))
    assert (marker.stat().st_mtime_ns, installed.stat().st_ino, env.python.lstat().st_ino) == stamps  # no rebuild
    assert elapsed < 0.5
    bare = Environment.create(cache_dir)  # other requirements: another environment
    assert bare.root != env.root and not list(bare.site_packages.glob("helperdist*"))


def test_environment_is_rebuilt_when_incomplete(cache_dir: Path) -> None:
    env = Environment.create(cache_dir)
    (env.root / "slimwheel-env.json").unlink()  # as if creation had been interrupted
    (env.root / "leftover").write_text("x")
    again = Environment.create(cache_dir)
    assert again.root == env.root and (env.root / "slimwheel-env.json").exists()
    assert not (env.root / "leftover").exists()


def test_requirement_that_fails_to_install(cache_dir: Path) -> None:
    with pytest.raises(CheckError, match="into the check environment failed") as info:
        Environment.create(cache_dir, requirements=["/nonexistent/not-a-real-package-1.0-py3-none-any.whl"])
    assert "\n" not in info.value.message


def test_unusable_interpreter(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckError, match="can't run the check interpreter"):
        Environment.create(cache_dir, python=tmp_path / "no-python")
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho 'I am not Python' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(CheckError, match="not a usable Python 3 interpreter: I am not Python"):
        Environment.create(cache_dir, python=fake)


def test_tags(env: Environment, tmp_path: Path) -> None:
    # The environment's interpreter is this interpreter's base: packaging, asked here, must agree.
    assert env.tags() == {str(tag) for tag in sys_tags()}
    assert "py3-none-any" in env.tags()
    env.require_compatible(read_wheel(SynthWheel(name="fits").build(tmp_path)))
    arm = SynthWheel(name="armonly", tag="cp27-cp27mu-linux_armv7l").build(tmp_path)
    with pytest.raises(CheckError, match="can't run on the check interpreter"):
        env.require_compatible(read_wheel(arm))


# ---------------------------------------------------------------------------------------------------------------
# Trees
# ---------------------------------------------------------------------------------------------------------------


def test_tree_holds_only_kept_items_and_their_bytecode(sandbox: Sandbox, make_tree: MakeTree) -> None:
    kept = CORE | {"pkg/data/config.txt", "<scripts>/pkg-hello", "pkg.libs/libdep.so"}
    tree = make_tree(kept)
    assert _files(tree) == {
        "site/pkg/__init__.py",
        "site/pkg/core.py",
        f"site/pkg/__pycache__/__init__.{CACHE_TAG}.pyc",
        f"site/pkg/__pycache__/core.{CACHE_TAG}.pyc",
        "site/pkg/data/config.txt",
        "site/pkg.libs/libdep.so",
        "bin/pkg-hello",
    }
    for path in _files(tree):
        assert os.stat(tree / path).st_ino == os.stat(sandbox.master / path).st_ino, path  # hard links
    assert (tree / "bin/pkg-hello").read_bytes().startswith(f"#!{sandbox.env.python}\n".encode())
    assert os.access(tree / "bin/pkg-hello", os.X_OK)
    with pytest.raises(KeyError, match="not a staged item"):
        sandbox.tree({"pkg/nonexistent.py"})


def test_entry_point_wrapper_comes_with_entry_points_txt(sandbox: Sandbox, make_tree: MakeTree) -> None:
    assert "bin/pkg-ep" not in _files(make_tree(CORE))
    tree = make_tree(CORE | {"pkg-0.1.dist-info/entry_points.txt"})
    assert "bin/pkg-ep" in _files(tree)
    result = sandbox.run(tree, Check.command("pkg-ep"), timeout=30, trace=True)
    assert result.passed, result.stderr
    assert result.stdout == "entry point 42\n"
    assert result.trace is not None and "pkg-0.1.dist-info/entry_points.txt" in result.trace.files


def test_tree_is_cheap(env: Environment, tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    for d in range(30):
        for f in range(7):
            files[f"big/sub{d}/mod{f}.py"] = f"X = {f}\n".encode()
        for f in range(3):
            files[f"big/sub{d}/data{f}.bin"] = b"\0" * 100
    box = Sandbox(env, tmp_path / "work")
    box.stage(files)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        tree = box.tree(files)
        timings.append(time.perf_counter() - started)
        box.discard(tree)
    best = min(timings)
    print(f"\ntree() of {len(files)} items (+{len(files) * 7 // 10} pyc): {best * 1000:.1f} ms")
    assert best < 0.25  # ~20 ms on an idle machine; generous because other test workers share the disk


def test_overrides_replace_or_add_files(sandbox: Sandbox, make_tree: MakeTree) -> None:
    tree = make_tree(CORE, {"pkg/core.py": b"VALUE = 7\n", "pkg/stub.py": b"STUB = 'yes'\n"})
    result = sandbox.run(tree, py("import pkg, pkg.stub; print(pkg.core.VALUE, pkg.stub.STUB)"), timeout=30)
    assert result.stdout == "7 yes\n", result.stderr
    assert (sandbox.master / "site/pkg/core.py").read_bytes().startswith(b"VALUE = 42")


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------


def test_pass_fail_and_output(sandbox: Sandbox) -> None:
    ok = run(sandbox, CORE, py("import pkg, sys; print(pkg.core.VALUE); print('to stderr', file=sys.stderr)"))
    assert (ok.passed, ok.returncode, ok.timed_out) == (True, 0, False)
    assert (ok.stdout, ok.stderr) == ("42\n", "to stderr\n")
    assert 0 < ok.seconds < 10 and ok.trace is None
    failed = run(sandbox, CORE, py("import sys; sys.exit(3)"))
    assert (failed.passed, failed.returncode) == (False, 3)
    missing = run(sandbox, {"pkg/core.py"}, py("import pkg.core"))  # no __init__.py: still a namespace package
    assert missing.passed
    broken = run(sandbox, {"pkg/__init__.py"}, py("import pkg"))
    assert not broken.passed and "cannot import name 'core'" in broken.stderr
    absent = run(sandbox, CORE, Check.command("no-such-program-anywhere"))
    assert (absent.passed, absent.returncode) == (False, None)
    assert "can't start no-such-program-anywhere" in absent.stderr


def test_output_is_capped(sandbox: Sandbox) -> None:
    result = run(sandbox, CORE, py("import sys; sys.stdout.write('x' * 1_000_000 + 'END')"))
    assert result.passed and len(result.stdout) < 70_000 and result.stdout.endswith("END")
    assert "bytes left out" in result.stdout


def test_check_is_isolated_from_the_developer_environment(sandbox: Sandbox) -> None:
    dev_site = sysconfig.get_path("purelib")
    probe = run(
        sandbox,
        CORE,
        py("""
            import json, os, sys
            print(json.dumps({"path": sys.path, "cwd": os.getcwd(), "listing": os.listdir("."),
                              "prefix": sys.prefix, "executable": sys.executable}))
            """),
    )
    facts = json.loads(probe.stdout)
    assert not any(entry.startswith(dev_site) for entry in facts["path"])
    assert facts["listing"] == [] and facts["cwd"] != os.getcwd()
    assert facts["prefix"] == str(sandbox.env.root) and facts["executable"] == str(sandbox.env.python)
    assert "pytest" in sys.modules  # ... here, but not in the check:
    for module in ("pytest", "rich", "slimwheel", "packaging"):
        result = run(sandbox, CORE, py(f"import {module}"))
        assert not result.passed and "ModuleNotFoundError" in result.stderr, module
    assert run(sandbox, CORE, py("import helpermod; assert helpermod.ANSWER == 41")).passed  # a requirement


def test_timeout_kills_the_whole_process_group(sandbox: Sandbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent(f"""
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            with open({str(pid_file)!r}, "w") as handle:
                handle.write(str(child.pid))
            time.sleep(120)
            """)
    )
    started = time.monotonic()
    result = run(sandbox, CORE, Check.script(script), timeout=1.5)
    assert time.monotonic() - started < 10
    assert (result.passed, result.timed_out, result.returncode) == (False, True, None)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_processes_left_behind_by_a_passing_check_are_killed(sandbox: Sandbox, tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    check = py(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 stdout=sys.stdout, stderr=sys.stderr)
        open({str(pid_file)!r}, "w").write(str(child.pid))
        """)  # it even holds the check's stdout open: the run must not wait for it
    started = time.monotonic()
    result = run(sandbox, CORE, check, timeout=60)
    assert result.passed and time.monotonic() - started < 10
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_scripts_run_from_the_tree(sandbox: Sandbox, tmp_path: Path) -> None:
    result = run(sandbox, CORE | {"<scripts>/pkg-hello"}, Check.command("pkg-hello"))
    assert result.passed and result.stdout == "hello 42\n", result.stderr
    assert not run(sandbox, CORE, Check.command("pkg-hello")).passed  # not kept: not found
    # An interpreter path too long for the kernel's #! line goes through /bin/sh, as installers do it.
    long_dir = tmp_path / ("d" * 150)
    long_dir.mkdir()
    (long_dir / "python").symlink_to(sandbox.env.python)
    script = tmp_path / "script"
    script.write_bytes(_script_text(b"#!python\nimport sys\nprint('args', sys.argv[1:])\n", long_dir / "python"))
    script.chmod(0o755)
    assert script.read_bytes().startswith(b"#!/bin/sh\n")
    out = subprocess.run([str(script), "a b", "c"], capture_output=True, text=True, check=True).stdout
    assert out == "args ['a b', 'c']\n"


def test_native_library_needs_its_dependency(sandbox: Sandbox) -> None:
    check = py("import pkg.native; assert pkg.native.top_value() == 8")
    assert run(sandbox, NATIVE, check).passed
    without = run(sandbox, NATIVE - {"pkg.libs/libdep.so"}, check)
    assert not without.passed and "libdep.so" in without.stderr


def test_bytecode_is_warm(sandbox: Sandbox, make_tree: MakeTree) -> None:
    tree = make_tree(CORE)
    before = _files(tree)
    assert f"site/pkg/__pycache__/core.{CACHE_TAG}.pyc" in before
    check = py("""
        import sys
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        import pkg.core
        print("\\n".join(path for path in opened if "pkg" in path))
        """)
    result = sandbox.run(tree, check, timeout=30)
    opened = set(result.stdout.split())
    site = tree / "site" / "pkg"
    assert str(site / "__pycache__" / f"core.{CACHE_TAG}.pyc") in opened, result.stdout + result.stderr
    assert str(site / "core.py") not in opened  # the source is only stat'ed: the bytecode is up to date
    assert _files(tree) == before  # and nothing was written


def test_concurrent_runs(sandbox: Sandbox) -> None:
    def one(i: int) -> tuple[bool, str]:
        kept = CORE if i % 2 else CORE | {"pkg/unused.py"}
        result = run(sandbox, kept, py(f"import pkg; print({i})"))
        return result.passed, result.stdout

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(16)))
    assert results == [(True, f"{i}\n") for i in range(16)]


def test_cost_of_one_candidate_cycle(sandbox: Sandbox) -> None:
    check = Check.command("python -c 'import pkg'")
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        tree = sandbox.tree(CORE | {"pkg/data/config.txt"})
        result = sandbox.run(tree, check, timeout=30)
        sandbox.discard(tree)
        timings.append(time.perf_counter() - started)
        assert result.passed
    print(
        f"\none candidate cycle (tree + run + discard, `import pkg`): median {statistics.median(timings) * 1000:.1f} ms"
    )
    assert statistics.median(timings) < 1.0


# ---------------------------------------------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------------------------------------------


TRACED_CHECK = """
    import os, subprocess, sys
    import pkg.reader, pkg.lister, pkg.native
    assert pkg.reader.CONFIG == "answer=42\\n"
    assert pkg.lister.NAMES == ["a.txt", "b.txt"]
    assert pkg.native.top_value() == 8
    subprocess.run([sys.executable, "-c", "import pkg.childonly"], check=True)
    subprocess.run(["pkg-hello"], check=True)
    print(os.environ.get("PKG_SITECUSTOMIZE"))
    """


def test_trace_maps_what_the_check_touched_to_items(sandbox: Sandbox) -> None:
    result = run(sandbox, sandbox.items, py(TRACED_CHECK), trace=True)
    assert result.passed, result.stderr
    trace = result.trace
    assert trace is not None
    assert trace.files >= {
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/reader.py",
        "pkg/lister.py",
        "pkg/native.py",
        "pkg/data/config.txt",  # open()
        "pkg.libs/libtop.so",  # ctypes
        "pkg.libs/libdep.so",  # only the dynamic loader knows: /proc/self/maps
        "pkg/childonly.py",  # imported by a child process of the check
        "<scripts>/pkg-hello",  # a script the check ran
        "sitecustomize.py",  # the package's own sitecustomize still runs under the tracer
    }
    assert result.stdout.splitlines()[-1] == "ran"
    assert {"pkg/unused.py", "pkg/listed/a.txt", "pkg/listed/b.txt"}.isdisjoint(trace.files)
    assert trace.directories == {"pkg/listed"}  # the import system's own listings are not counted
    assert all(key in sandbox.items for key in trace.files)
    assert {"pkg.reader", "pkg.childonly"} <= trace.modules
    assert trace.processes >= 3 and trace.raw_paths > len(trace.files)


def test_trace_of_calls_tells_imported_from_used(sandbox: Sandbox) -> None:
    check = py("""
        import pkg.reader, pkg.native, pkg.core
        assert pkg.native.top_value() == 8
        """)
    plain = run(sandbox, sandbox.items, check, trace=True)
    assert plain.passed and plain.trace is not None and plain.trace.calls == frozenset()  # only when asked for
    result = run(sandbox, sandbox.items, check, trace=True, calls=True)
    assert result.passed, result.stderr
    assert result.trace is not None
    # top_value() is called from the check (outside the tree); module bodies (pkg.reader, pkg.core) never count
    assert ("pkg/native.py", "") in result.trace.calls
    assert not {callee for callee, _ in result.trace.calls} & {"pkg/reader.py", "pkg/core.py", "pkg/__init__.py"}
    assert all(callee in sandbox.items and caller in (*sandbox.items, "") for callee, caller in result.trace.calls)


def test_untraced_run_runs_the_package_sitecustomize(sandbox: Sandbox) -> None:
    result = run(sandbox, CORE | {"sitecustomize.py"}, py("import os; print(os.environ.get('PKG_SITECUSTOMIZE'))"))
    assert result.stdout == "ran\n"


def test_raw_trace_sees_dependency_libraries_only_through_the_maps(
    sandbox: Sandbox, make_tree: MakeTree, tmp_path: Path
) -> None:
    tree = make_tree(NATIVE)
    trace_dir = tmp_path / "trace"
    trace_dir.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    environ |= {"PYTHONPATH": f"{bootstrap_dir(tmp_path)}:{tree / 'site'}", "SLIMWHEEL_TRACE_DIR": str(trace_dir)}
    code = "import os, pkg.native; pkg.native.top_value(); os._exit(0)"  # os._exit: atexit does not run
    subprocess.run([str(sandbox.env.python), "-c", code], env=environ, cwd=tmp_path, check=True)
    (record_file,) = trace_dir.glob("*.json")
    record = json.loads(record_file.read_text())
    dep = str(tree / "site" / "pkg.libs" / "libdep.so")
    assert dep in record["mapped"]
    assert not any(path.endswith("libdep.so") for path in record["opened"])  # no audit event for it
    assert read_traces(trace_dir, tree).files >= {"pkg.libs/libdep.so", "pkg.libs/libtop.so", "pkg/native.py"}


def test_read_traces_normalises_paths(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for relative in ("site/pkg/__init__.py", f"site/pkg/__pycache__/__init__.{CACHE_TAG}.pyc", "site/pkg/d/x.txt"):
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_text("")
    (tree / "bin").mkdir()
    (tree / "bin" / "tool").write_text("")
    (tmp_path / "link").symlink_to(tree)
    trace_dir = tmp_path / "trace"
    trace_dir.mkdir()
    record = {
        "opened": [
            f"{tree}/site/pkg/__pycache__/__init__.{CACHE_TAG}.pyc",  # bytecode stands for its source
            f"{tree}/site/pkg/d/../d/x.txt",  # not normalised
            f"{tree}/site/pkg/missing.txt",  # failed to open: not a file of the tree
            f"{tree}/site/pkg/d",  # a directory is not a file
            "/usr/lib/python3/os.py",  # outside the tree
        ],
        "module_files": [f"{tmp_path}/link/site/pkg/__init__.py"],  # through a symbolic link
        "mapped": [],
        "listed": [f"{tree}/site/pkg/d", f"{tree}/site", f"{tree}/bin"],
        "programs": ["tool", "ls"],
        "modules": ["pkg"],
    }
    (trace_dir / "1.json").write_text(json.dumps(record))
    (trace_dir / "2.json").write_text('{"opened": ["cut off')  # a process killed while writing
    trace = read_traces(trace_dir, tree)
    assert trace.files == {
        "pkg/__init__.py",
        f"pkg/__pycache__/__init__.{CACHE_TAG}.pyc",
        "pkg/d/x.txt",
        "<scripts>/tool",
    }
    assert trace.directories == {"pkg/d", "", "<scripts>"}
    assert trace.modules == {"pkg"} and trace.processes == 1
    assert read_traces(tmp_path / "no-such-dir", tree).files == frozenset()


def test_bootstrap_chains_a_shadowed_sitecustomize(env: Environment, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("print('other sitecustomize')\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "SLIMWHEEL_TRACE_DIR"}
    environ["PYTHONPATH"] = f"{bootstrap_dir(tmp_path / 'work')}:{other}"
    out = subprocess.run([str(env.python), "-c", "print('main')"], env=environ, capture_output=True, text=True)
    assert out.stdout == "other sitecustomize\nmain\n", out.stderr
