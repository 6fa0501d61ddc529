"""scipy smoke check: a linear solve, a least-squares fit with scipy.optimize, an FIR filter with scipy.signal."""

import numpy as np
from scipy import linalg, optimize, signal

a = np.array([[3.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 5.0]])
b = np.array([1.0, 2.0, 3.0])
x = linalg.solve(a, b)
assert np.allclose(a @ x, b)

t = np.linspace(0.0, 4.0, 50)
y = 2.5 * np.exp(-1.3 * t) + 0.5
fit, _ = optimize.curve_fit(lambda t, a, k, c: a * np.exp(-k * t) + c, t, y, p0=(1.0, 1.0, 0.0))
assert np.allclose(fit, (2.5, 1.3, 0.5), atol=1e-4), fit

taps = signal.firwin(31, 0.2)
filtered = signal.lfilter(taps, 1.0, np.sin(np.linspace(0, 20, 200)))
assert filtered.shape == (200,) and abs(taps.sum() - 1.0) < 1e-9
print("scipy", np.round(x, 6).tolist(), np.round(fit, 4).tolist())
