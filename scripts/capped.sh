#!/usr/bin/env bash
# Runs a command under a cgroup v1 memory cap, with the model file's pages dropped from the page cache first, so
# that every page the command maps is charged to the cap (pages cached before it would never be).
#   scripts/capped.sh LIMIT MODEL.gguf -- COMMAND...     e.g.  scripts/capped.sh 1.2G big.gguf -- llama-bench -m big.gguf
set -euo pipefail
[[ $# -ge 4 && $3 == "--" ]] || { echo "usage: $0 LIMIT MODEL -- COMMAND..." >&2; exit 2; }
limit=$1 model=$2; shift 3
group=/sys/fs/cgroup/memory/moespeq-capped-$$
[[ -w /sys/fs/cgroup/memory ]] || { echo "the cgroup v1 memory controller is not writable here" >&2; exit 2; }
python3 - "$model" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
PY
mkdir "$group"
trap 'echo $$ > /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null || true; rmdir "$group" 2>/dev/null || true' EXIT
echo "$limit" > "$group/memory.limit_in_bytes"
echo "$limit" > "$group/memory.memsw.limit_in_bytes" 2>/dev/null || true
echo $$ > "$group/cgroup.procs"
"$@"
echo "peak memory in the cap: $(( $(cat "$group/memory.max_usage_in_bytes") / 1048576 )) MiB of $(( $(cat "$group/memory.limit_in_bytes") / 1048576 )) MiB" >&2
