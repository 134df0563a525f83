"""The exceptions clnet raises on purpose (everything else is a ValueError/TypeError naming the op)."""


class DeviceError(RuntimeError):
    """No such device, device lost, out of device memory, or tensors on different devices."""


class KernelBuildError(RuntimeError):
    """An OpenCL program failed to build; carries the build log and the defines used."""

    def __init__(self, family, defines, log, device_name=""):
        self.family = family
        self.defines = dict(defines)
        self.log = log
        flags = " ".join(f"-D{k}={v}" if v is not None else f"-D{k}" for k, v in self.defines.items())
        super().__init__(
            f"building kernel family '{family}' for {device_name or 'the device'} failed "
            f"(defines: {flags or 'none'}). Build log:\n{log}")


class OutOfMemoryError(DeviceError):
    """An allocation the device (or the host memory behind a CPU device) cannot hold.

    A RuntimeError, like ``torch.cuda.OutOfMemoryError``; the message names the size asked, the
    bytes clnet has in use on the device and the device's limit.
    """


class CheckpointError(ValueError):
    """A checkpoint file that is missing, not a regular file, corrupt, truncated or not clnet's.

    The message names the file and the fault. A ValueError, so code catching bad input still
    catches it.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"checkpoint '{self.path}': {problem}")
