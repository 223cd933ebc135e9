"""Independent numpy references (the original CS231n formulas), used by the
tests only. Everything is computed in float64."""
import numpy as np


def f64(a):
    return np.asarray(a, dtype=np.float64)


def affine(x, w, b):
    x = f64(x)
    return x.reshape(x.shape[0], -1) @ f64(w) + f64(b)


def affine_back(dout, x, w):
    x, w, dout = f64(x), f64(w), f64(dout)
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(0)


def softmax_loss(x, y):
    x = f64(x)
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    logz = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    logp = shifted - logz
    loss = -logp[np.arange(N), y].mean()
    dx = np.exp(logp)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


def conv(x, w, b, stride, pad):
    """Direct convolution: one tensordot per output position."""
    x, w, b = f64(x), f64(w), f64(b)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho = 1 + (H + 2 * pad - HH) // stride
    Wo = 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv_back(dout, x, w, stride, pad):
    x, w, dout = f64(x), f64(w), f64(dout)
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    Ho, Wo = dout.shape[2:]
    for i in range(Ho):
        for j in range(Wo):
            sl = (slice(None), slice(None), slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW))
            dw += np.tensordot(dout[:, :, i, j], xp[sl], axes=([0], [0]))
            dxp[sl] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def pool(x, ph, pw, stride):
    x = f64(x)
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // stride, 1 + (W - pw) // stride
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].max(axis=(2, 3))
    return out


def pool_back(dout, x, ph, pw, stride):
    """Each window's first maximum (row-major) gets the gradient; overlaps add."""
    x, dout = f64(x), f64(dout)
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * stride:i * stride + ph, j * stride:j * stride + pw].reshape(N, C, -1)
            r, c = np.divmod(win.argmax(axis=2), pw)
            np.add.at(dx, (n_idx, c_idx, i * stride + r, j * stride + c), dout[:, :, i, j])
    return dx


def bn(x, gamma, beta, eps):
    """Batch norm of rows (x (M, D)): returns out, xhat, invstd, mean, var."""
    x = f64(x)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * invstd
    return f64(gamma) * xhat + f64(beta), xhat, invstd, mu, var


def bn_back(dout, xhat, invstd, gamma):
    """Closed form batch norm backward over axis 0."""
    dout, xhat = f64(dout), f64(xhat)
    M = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * f64(gamma)
    dx = invstd / M * (M * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta


def to_rows(x):
    """(N, C, H, W) -> (N*H*W, C)."""
    N, C, H, W = x.shape
    return f64(x).transpose(0, 2, 3, 1).reshape(-1, C)


def from_rows(r, shape):
    N, C, H, W = shape
    return r.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def layernorm(x, gamma, beta, eps):
    out_t, xhat_t, invstd, _, _ = bn(f64(x).T, np.ones((x.shape[0],)), np.zeros((x.shape[0],)), eps)
    xhat = xhat_t.T
    return xhat * f64(gamma) + f64(beta), xhat, invstd


def layernorm_back(dout, xhat, invstd, gamma):
    dout = f64(dout)
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = (dout * f64(gamma)).T
    M = dxhat.shape[0]
    xt = xhat.T
    dx = invstd / M * (M * dxhat - dxhat.sum(axis=0) - xt * (dxhat * xt).sum(axis=0))
    return dx.T, dgamma, dbeta


def groupnorm(x, gamma, beta, G, eps):
    x = f64(x)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = ((xg - mu) * invstd).reshape(x.shape)
    g = f64(gamma).reshape(1, C, 1, 1)
    bt = f64(beta).reshape(1, C, 1, 1)
    return g * xhat + bt, xhat, invstd


def groupnorm_back(dout, xhat, invstd, gamma, G):
    dout = f64(dout)
    N, C, H, W = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(1, C, 1, 1)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(1, C, 1, 1)
    dxhat = (dout * f64(gamma).reshape(1, C, 1, 1)).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    M = dxhat.shape[2]
    dx = invstd / M * (M * dxhat - dxhat.sum(axis=2, keepdims=True) - xh * (dxhat * xh).sum(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
