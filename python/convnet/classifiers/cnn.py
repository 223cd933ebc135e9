"""The original cs231n/classifiers/cnn.py: ThreeLayerConvNet,
conv - relu - 2x2 max pool - affine - relu - affine - softmax,
as a C net (spec conv{F}x{K}-relu-pool2-affine{H}-relu-affine{C})."""
import numpy as np

from ..net import Net

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet(Net):
    """The original's three-layer convolutional network. Parameters W1 b1
    (conv, stride 1, pad (filter_size - 1) // 2), W2 b2 (hidden affine),
    W3 b3 (output affine) with the original's shapes; weights drawn as
    weight_scale * N(0, 1) (seeded from np.random), biases zero."""

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        spec = "conv%dx%d-relu-pool2-affine%d-relu-affine%d" % (
            int(num_filters), int(filter_size), int(hidden_dim), int(num_classes))
        Net.__init__(self, spec, input_dim=input_dim, weight_scale=weight_scale, reg=reg, dtype=dtype)
