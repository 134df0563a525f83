"""Fail on the OpenCL API errors Oclgrind printed (OCLGRIND_CHECK_API=1 writes them to stderr).

One report is expected and ignored: pyopencl's build path probes every non-PoCL device for NVIDIA's
compute capability (clGetDeviceInfo with CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, in
pyopencl.characterize.nv_compute_capability), which Oclgrind answers with CL_INVALID_VALUE for
'param_name'. Everything else fails the run. Other stderr lines are shown as they are.
"""
import sys

HEADER = "Oclgrind - OpenCL runtime error detected"
KNOWN_PYOPENCL_PROBE = ("Function: clGetDeviceInfo", "Error:    CL_INVALID_VALUE",
                        "For argument 'param_name'")


def reports(text):
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith(HEADER):
            current = [line]
            blocks.append(current)
        elif current is not None and line.startswith("\t"):
            current.append(line.strip())
        else:
            current = None
    return blocks


def main(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    found = reports(text)
    known = [b for b in found if tuple(b[1:4]) == KNOWN_PYOPENCL_PROBE]
    real = [b for b in found if b not in known]
    other = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith((HEADER, "\t"))]
    if other:
        print("stderr of the sweep:\n" + "\n".join(other[:50]), file=sys.stderr)
    print(f"oclgrind: {len(found)} API reports, {len(known)} of them pyopencl's NVIDIA probe")
    if real:
        print(f"oclgrind: {len(real)} OpenCL API errors:", file=sys.stderr)
        for b in real[:20]:
            print("\n  ".join(b), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
