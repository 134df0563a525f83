"""PyTorch code written as ``import clnet as torch`` finds what it commonly reaches for."""
import numpy as np

import clnet as torch


def test_utils_data_and_cuda_names():
    ds = torch.utils.data.TensorDataset(torch.arange(10).float(), torch.arange(10))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    batches = [y.tolist() for _, y in loader]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    has_gpu = any(d.kind == "GPU" for d in torch.devices())
    assert torch.cuda.is_available() is has_gpu
    assert torch.cuda.device_count() == sum(d.kind == "GPU" for d in torch.devices())
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert dev.kind == ("GPU" if has_gpu else "CPU")


def test_a_pytorch_tutorial_loop_runs_unchanged():
    # the shape of the "learning PyTorch with examples" nn module loop
    x = torch.linspace(-np.pi, np.pi, 200)
    y = torch.sin(x)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    first = None
    for t in range(300):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        if first is None:
            first = loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 5
    with torch.no_grad():
        assert model(xx).shape == (200,)
