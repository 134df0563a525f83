"""The kernel-launch floor: one module per ``cl_kernels/<family>.cl`` family, holding its program
lookup, argument packing and launches.

A module here takes tensors and writes results into tensors; it records nothing in the autograd
graph and imports only ``clnet.tensor``, ``clnet.backend``, ``clnet.dtypes``/``errors`` and the
other modules of this floor. The op families in ``clnet/ops`` sit above: they choose dtypes and
shapes, call these launches, and record the backward.

  layout       broadcasting, dimension collapsing, the `Strided` struct, 1-D launches
  copy         copy.cl: strided/vector launch helpers, copies, casts, fills, host uploads
  elementwise  elementwise.cl: unary/binary/ternary kernels (vector, contiguous, strided forms)
  reduce       reduce.cl: the (outer, R, inner) plan, kernel choice, chunking
  scan         scan.cl: cumulative sums and products along a dim
  index        index.cl: gather/scatter/masked-fill/one-hot launches, nonzero compaction
  check        check.cl: device-side value checks that set the error flag
  sort         sort.cl: bitonic sorts and run boundaries
  gemm         gemm.cl: the strided, batched GEMM every matrix product goes through
  softmax      softmax.cl: softmax / log-softmax over rows, the fused cross-entropy
  rnn          rnn.cl: the LSTM / GRU cells and the Elman RNN's activation
  embedding    embedding.cl: max-norm renormalisation, the run-sum weight gradient
  optim        optim.cl: the fused optimizer updates, arguments passed by name
"""
