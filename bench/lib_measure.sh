# Helpers for bench/run_template.sh (sourced, not run): run one program while
# measuring its wall time, peak RSS and peak GPU memory, and small number
# helpers (median, ratio) that need only awk.
# Needs $python (a python3; the launcher below uses only its standard library)
# and $device (cpu or cuda).

# The launcher: forks and execs the command, waits for it, then prints
# "MEASURE wall_s S rss_kb K pid P" on stderr: wall time from fork to exit,
# peak RSS from wait4 (as GNU time reports it), and the program's own pid.
_measure_py='
import os, sys, time
cmd = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        print("cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
    os._exit(127)
_, status, ru = os.wait4(pid, 0)
print("MEASURE wall_s %.3f rss_kb %d pid %d" % (time.perf_counter() - t0, ru.ru_maxrss, pid), file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
'

# measure LOG DIR COMMAND...: runs COMMAND in DIR, stdout and stderr to LOG, and
# appends the MEASURE line and "GPU gpu_mb M" (M blank without nvidia-smi) to LOG.
# While it runs on cuda, nvidia-smi (if installed) lists the GPU's processes into
# LOG.smi every ~50 ms, until LOG.stop appears. Returns COMMAND's exit status.
measure() {
    local log=$1 dir=$2 sampler="" rc=0
    shift 2
    rm -f "$log.stop"
    if [ "$device" = cuda ] && command -v nvidia-smi >/dev/null 2>&1; then
        while [ ! -e "$log.stop" ]; do
            nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits || true
            sleep 0.05
        done >"$log.smi" 2>/dev/null &
        sampler=$!
    fi
    (cd "$dir" && exec "$python" -c "$_measure_py" "$@") >"$log" 2>&1 || rc=$?
    if [ -n "$sampler" ]; then touch "$log.stop"; wait "$sampler"; fi
    echo "GPU gpu_mb $(gpu_peak_mb "$log")" >>"$log"
    return $rc
}

# gpu_peak_mb LOG: the largest used_memory (MiB) nvidia-smi showed for the
# program's pid. If that pid never appeared (nvidia-smi in a container sees
# the host's pids), the largest over all pids, marked with a '*'.
gpu_peak_mb() {
    [ -f "$1.smi" ] || return 0
    local pid
    pid=$(field pid "$1")
    awk -F', *' -v pid="$pid" '$2 ~ /^[0-9]+$/ {
            if ($2 + 0 > all + 0) all = $2
            if ($1 == pid && $2 + 0 > own + 0) own = $2 }
        END { if (own != "") print own; else if (all != "") print all "*" }' "$1.smi"
}

# field KEY LOG: the value after KEY on LOG's lines "TAG key value key value ..."
# with TAG MEASURE (wall_s rss_kb pid), GPU (gpu_mb) or SUMMARY (best_effort_loop.py's)
field() {
    awk -v k="$1" '$1 ~ /^(MEASURE|GPU|SUMMARY)$/ { for (i = 2; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$2"
}

# median: the median of the numbers on stdin (one a line); nothing if there are none
median() {
    sort -g | awk 'NF {a[++n] = $1} END {if (n) print (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)}'
}

# calc FORMAT EXPR: EXPR (numbers only) evaluated by awk and printed with FORMAT
calc() {
    awk "BEGIN { printf \"$1\", $2 }"
}

# num FORMAT VALUE: VALUE printed with FORMAT, or "-" if it is not a number (blank, nan)
num() {
    awk -v f="$1" -v v="$2" 'BEGIN { if (v ~ /^[0-9.]+$/) printf f, v; else printf "-" }'
}

# ratio A B: A / B with two decimals, "-" unless both are positive numbers ("123*" counts as 123)
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+\*?$/ && b ~ /^[0-9.]+\*?$/ && a + 0 > 0 && b + 0 > 0)
                                         printf "%.2f", a / b; else printf "-" }'
}
