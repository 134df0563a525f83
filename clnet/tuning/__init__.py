"""``clnet tune``: searches the kernel families' parameters on a device and keeps the fastest
correct ones in the device's tuning file (clnet/backend/tuning.py), which every later process
reads. ``search`` is the engine (check against the default, time, pick), ``families`` says what
each family's candidates and cases are."""
