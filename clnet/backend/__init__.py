"""Devices, contexts and queues, program building and caching, device memory."""
# (the function devices() is not re-exported here: it would hide the submodule of the same name,
# and `from clnet.backend import devices` would give the function; clnet.devices is the function)
from .devices import Device, default_device, device, set_default_device, synchronize
from .memory import (allocate, empty_cache, get_per_process_memory_fraction,
                     max_memory_allocated, memory_allocated, memory_reserved, memory_stats,
                     reset_peak_memory_stats, set_per_process_memory_fraction)
from .programs import get_program, kernel_dir
