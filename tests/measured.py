"""Run slimwheel's command line in a fresh interpreter that reports its own peak RSS (shared by the memory tests and
``benchmarks/bench_memory.py``).

``python -c MEASURED ARGS...`` runs ``slimwheel ARGS...`` in-process and prints ``MAXRSS_KIB N`` on stderr at exit:
the process's peak resident set since exec (``VmHWM``), not ``ru_maxrss``, which Linux carries over from the
parent through vfork + exec (pytest's own size would count).
"""

MEASURED = (
    "import re, sys\n"
    "from slimwheel.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "finally:\n"
    "    with open('/proc/self/status') as status:\n"
    "        hwm = re.search(r'VmHWM:\\s+(\\d+) kB', status.read())\n"
    "    print(f'MAXRSS_KIB {hwm.group(1) if hwm else 0}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)
