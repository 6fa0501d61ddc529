"""numpy smoke check: linalg (solve, eigvalsh, det) and fft (a round trip), with the results printed."""

import numpy as np

a = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 2.0]])
b = np.array([1.0, 2.0, 3.0])
x = np.linalg.solve(a, b)
assert np.allclose(a @ x, b)
w = np.linalg.eigvalsh(a)
d = np.linalg.det(a)
assert np.isclose(np.prod(w), d)
t = np.linspace(0.0, 1.0, 64, endpoint=False)
signal = np.cos(2 * np.pi * 4 * t) + 0.5 * np.sin(2 * np.pi * 10 * t)
spectrum = np.fft.fft(signal)
back = np.fft.ifft(spectrum)
assert np.allclose(back.real, signal) and np.allclose(back.imag, 0.0)
print("solve", np.round(x, 6).tolist())
print("eigvalsh", np.round(w, 6).tolist())
print("det", round(float(d), 6))
print("fft peaks", sorted(int(i) for i in np.argsort(np.abs(spectrum[:32]))[-2:]))
