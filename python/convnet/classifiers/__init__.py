from .cnn import ThreeLayerConvNet  # noqa: F401
