"""numpy smoke check: train a 2-16-1 perceptron by gradient descent with plain numpy, then infer."""

import numpy as np

# Points in the plane, labelled by whether they lie inside a circle (not linearly separable).
rng = np.random.default_rng(0)
x_train = rng.uniform(-2.0, 2.0, size=(256, 2))
y_train = (np.sum(x_train**2, axis=1) < 1.5).astype(np.float64)[:, None]

# A 2-16-1 perceptron: tanh hidden layer, sigmoid output, full-batch gradient descent on the cross-entropy.
w1 = rng.standard_normal((2, 16)) * 0.5
b1 = np.zeros(16)
w2 = rng.standard_normal((16, 1)) * 0.5
b2 = np.zeros(1)


def forward(x):
    h = np.tanh(x @ w1 + b1)
    return h, 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))


losses = []
for _epoch in range(400):
    h, p = forward(x_train)
    losses.append(-np.mean(y_train * np.log(p + 1e-12) + (1 - y_train) * np.log(1 - p + 1e-12)))
    d_out = (p - y_train) / len(x_train)
    d_h = (d_out @ w2.T) * (1 - h**2)
    w2 -= 0.5 * (h.T @ d_out)
    b2 -= 0.5 * d_out.sum(axis=0)
    w1 -= 0.5 * (x_train.T @ d_h)
    b1 -= 0.5 * d_h.sum(axis=0)

# Inference on points the model has not seen.
x_test = np.array([[0.0, 0.0], [0.5, -0.5], [1.8, 1.8], [-1.9, 0.1], [0.2, 0.9], [-1.2, -1.2]])
_, p_test = forward(x_test)
_, p_train = forward(x_train)
accuracy = float(np.mean((p_train > 0.5) == (y_train > 0.5)))
labels = (p_test[:, 0] > 0.5).astype(int).tolist()
assert losses[-1] < 0.5 * losses[0] and accuracy > 0.9, (losses[::50], accuracy)
assert labels == [1, 1, 0, 0, 1, 0], labels
print("loss", round(float(losses[0]), 4), "->", round(float(losses[-1]), 4), "train accuracy", round(accuracy, 4))
print("test probabilities", np.round(p_test[:, 0], 4).tolist(), "labels", labels)
