# Corpus program modelled on the PyTorch docs' CUDA Graphs notes (docs/source/notes/cuda.rst,
# "Whole-network capture" and "Partial-network capture"; BSD-3-Clause),
# https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs
# Written for clnet's corpus after the examples' structure and torch calls (their text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Part 1 warms a network up on a side stream, captures forward, backward and the optimizer step
# into a CUDAGraph with static_input/static_target, and replays it on new data. Part 2 graphs
# three modules with make_graphed_callables and picks one of two branches per batch.
from itertools import chain

import torch

torch.manual_seed(0)  # clnet-port: seeded, so the loss check is reproducible
# clnet-port: the docs' CUDA device; clnet captures on its default device when there is no GPU
device = "cuda" if torch.cuda.is_available() else "cpu"
# clnet-port: sizes cut from (640, 4096, 2048, 1024) to run in seconds on two CPU cores
N, D_in, H, D_out = 64, 32, 48, 8
# clnet-port: a learnable target (a fixed linear map of the input) instead of random data,
# so the program can check that training through replays works
W_true = torch.randn(D_in, D_out, device=device) / D_in ** 0.5


def batch():
    x = torch.randn(N, D_in, device=device)
    return x, x @ W_true


# ---- whole-network capture
model = torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.Dropout(p=0.2),
                            torch.nn.Linear(H, D_out), torch.nn.Dropout(p=0.1)).to(device)
loss_fn = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

static_input, static_target = batch()

# warm-up on a side stream before capture
s = torch.cuda.Stream()
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    for i in range(3):
        optimizer.zero_grad(set_to_none=True)
        y_pred = model(static_input)
        loss = loss_fn(y_pred, static_target)
        loss.backward()
        optimizer.step()
torch.cuda.current_stream().wait_stream(s)

# capture: grads are set to None first so backward creates .grad from the graph's pool
g = torch.cuda.CUDAGraph()
optimizer.zero_grad(set_to_none=True)
with torch.cuda.graph(g):
    static_y_pred = model(static_input)
    static_loss = loss_fn(static_y_pred, static_target)
    static_loss.backward()
    optimizer.step()

losses = []
for i in range(60):  # clnet-port: 60 batches instead of 10, to see the loss fall
    data, target = batch()
    # fill the graph's input memory with new data to compute on, then replay
    static_input.copy_(data)
    static_target.copy_(target)
    g.replay()
    losses.append(static_loss.item())
print(f"whole-network capture: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
assert losses[-1] < 0.5 * losses[0], losses  # clnet-port: the outcome check

# ---- partial-network capture
module1 = torch.nn.Linear(D_in, H).to(device)
module2 = torch.nn.Linear(H, D_out).to(device)
module3 = torch.nn.Linear(H, D_out).to(device)
optimizer = torch.optim.SGD(chain(module1.parameters(), module2.parameters(),
                                  module3.parameters()), lr=0.1)

# sample inputs: their requires_grad state must match the real inputs'
x = torch.randn(N, D_in, device=device)
h = torch.randn(N, H, device=device, requires_grad=True)

module1 = torch.cuda.make_graphed_callables(module1, (x,))
module2 = torch.cuda.make_graphed_callables(module2, (h,))
module3 = torch.cuda.make_graphed_callables(module3, (h,))

losses = []
for i in range(60):  # clnet-port: 60 batches instead of 10
    data, target = batch()
    optimizer.zero_grad(set_to_none=True)
    tmp = module1(data)  # forward ops run as a graph
    if tmp.sum().item() > 0:
        tmp = module2(tmp)  # forward ops run as a graph
    else:
        tmp = module3(tmp)  # forward ops run as a graph
    loss = loss_fn(tmp, target)
    # module2's or module3's (whichever was chosen) backward ops, as well as module1's
    # backward ops, run as graphs
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"partial-network capture: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
assert losses[-1] < 0.5 * losses[0], losses  # clnet-port: the outcome check
