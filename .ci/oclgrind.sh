#!/usr/bin/env bash
# Kernel safety: run tests/test_oclgrind.py (every kernel of every program, small shapes) on the
# Oclgrind OpenCL simulator, and fail on anything it reports. Oclgrind itself exits 0 whatever it
# finds, so its log (kernel errors) and the runtime's messages on stderr (API errors) are checked.
#
# Usage: .ci/oclgrind.sh [python]   (default: python on PATH, with clnet and its tests installed)
# Installs Debian's oclgrind when missing (needs root). Oclgrind is registered for this run only:
# an ICD file in a temporary folder named by OCL_ICD_VENDORS (the ocl-icd loader inside pyopencl's
# wheel honours it; nothing under /etc is touched).
set -euo pipefail
PY=${1:-python}
cd "$(dirname "$0")/.."

if ! command -v oclgrind >/dev/null 2>&1; then
    echo "== installing oclgrind (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq oclgrind >/dev/null
fi
icd_lib=$(dpkg -L liboclgrind-21.10 oclgrind 2>/dev/null | grep -m1 'liboclgrind-rt-icd\.so$' || true)
[ -n "$icd_lib" ] || icd_lib=$(find /usr/lib /usr/local/lib -name 'liboclgrind-rt-icd.so' 2>/dev/null | head -n1)
[ -n "$icd_lib" ] || { echo "oclgrind: liboclgrind-rt-icd.so not found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$icd_lib" > "$work/oclgrind.icd"
export OCL_ICD_VENDORS="$work"
export OCLGRIND_LOG="$work/oclgrind.log"
export OCLGRIND_CHECK_API=1 OCLGRIND_DATA_RACES=1
# Not OCLGRIND_UNINITIALIZED=1: Oclgrind 21.10's uninitialised-value plugin aborts on LLVM's
# 'freeze' instruction ("Unsupported instruction: freeze" in every strided kernel).
export CLNET_DEVICE=oclgrind

"$PY" - <<'PYEOF'
import clnet
d = clnet.default_device()
assert d.platform_name == "Oclgrind", f"CLNET_DEVICE=oclgrind picked {d.name} [{d.platform_name}]"
print(f"== kernel sweep on {d} = {d.name} [{d.platform.version.strip()}]")
PYEOF

# Canary: an out-of-bounds write must reach a log, or an empty log below would prove nothing.
OCLGRIND_LOG="$work/canary.log" "$PY" - <<'PYEOF'
import numpy as np, pyopencl as cl
import clnet
d = clnet.default_device()
prg = cl.Program(d.context, "__kernel void oob(__global int* a) { a[get_global_id(0) + 1] = 1; }").build()
buf = cl.Buffer(d.context, cl.mem_flags.READ_WRITE, 16)
prg.oob(d.queue, (4,), (4,), buf)
d.queue.finish()
PYEOF
grep -q "Invalid write" "$work/canary.log" || { echo "oclgrind: canary out-of-bounds write was not reported" >&2; exit 1; }

# --capture=sys: Oclgrind's runtime writes API errors to file descriptor 2, which must reach the
# file below instead of pytest's per-test capture.
set +e
"$PY" -m pytest tests/test_oclgrind.py -q -p no:cacheprovider --capture=sys 2>"$work/stderr.txt" \
    | tee "$work/pytest.txt"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error|no tests ran)' "$work/pytest.txt" | tail -n1 || true)
status=0
if [ "$rc" -ne 0 ]; then
    echo "oclgrind: pytest exited $rc (5 means no test ran)" >&2
    status=1
fi
if ! grep -qE '[0-9]+ passed' "$work/pytest.txt" || grep -qE '[0-9]+ skipped' "$work/pytest.txt"; then
    echo "oclgrind: the sweep did not run in full (skips or no passes): $summary" >&2
    status=1
fi
if [ -s "$OCLGRIND_LOG" ]; then
    echo "oclgrind: the simulator reported kernel errors ($(grep -c '^[A-Z]' "$OCLGRIND_LOG") lines); first ones:" >&2
    head -n 80 "$OCLGRIND_LOG" >&2
    status=1
fi
"$PY" .ci/oclgrind_api_errors.py "$work/stderr.txt" || status=1
[ "$status" -eq 0 ] && echo "oclgrind: no reports"
exit "$status"
