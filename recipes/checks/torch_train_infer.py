"""torch smoke check: train a small MLP (Adam, MSE) until the loss falls fivefold, then run inference."""

import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(256, 8)
w = torch.randn(8, 1)
y = x @ w + 0.1 * torch.randn(256, 1)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
loss_fn = nn.MSELoss()
first = None
for _step in range(200):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    if first is None:
        first = loss.item()
    loss.backward()
    opt.step()
assert loss.item() < first * 0.2, (first, loss.item())
model.eval()
with torch.no_grad():
    pred = model(torch.ones(1, 8))
print("ok", round(float(pred), 2))
