"""convnet: the CS231n assignment-2 API (layers, fast layers, sandwiches,
update rules, Solver, ThreeLayerConvNet, gradient checks) for numpy,
backed by libconvnet through ctypes.

Drop-in: `from cs231n.fast_layers import ...` -> `from convnet.fast_layers
import ...` (likewise layers, layer_utils, optim, solver, gradient_check,
classifiers.cnn). The library is found through $CONVNET_LIB, else
../../build/libconvnet.so next to this package, else the system's
libconvnet.so; it is loaded on first use.
"""
from ._lib import build_info, get_num_threads, library_path, set_num_threads
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all
from .fast_layers import *  # noqa: F401,F403
from .fast_layers import __all__ as _fast_all
from .layer_utils import *  # noqa: F401,F403
from .layer_utils import __all__ as _utils_all
from .optim import adam, rmsprop, sgd, sgd_momentum
from .gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                             grad_check_sparse, rel_error)
from .net import Net, ParamDict, spec_expand
from .classifiers.cnn import ThreeLayerConvNet
from .solver import Solver
from . import classifiers, fast_layers, gradient_check, layer_utils, layers, optim, solver  # noqa: F401

__version__ = "1.0"

__all__ = (list(_layers_all) + list(_fast_all) + list(_utils_all) + [
    "sgd", "sgd_momentum", "rmsprop", "adam",
    "eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse", "rel_error",
    "Net", "ParamDict", "spec_expand", "ThreeLayerConvNet", "Solver",
    "set_num_threads", "get_num_threads", "build_info", "library_path",
])
