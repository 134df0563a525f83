"""Neural-network building blocks: Parameter, Module and layers, functional forms, init, losses."""
from .parameter import Parameter
from .module import Module
from .containers import (Flatten, Identity, ModuleDict, ModuleList, ParameterDict, ParameterList,
                         Sequential, Unflatten)
from . import init, utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from . import functional, functional_losses  # noqa: F401
from . import parallel  # noqa: F401
from .parallel import DataParallel, DistributedDataParallel  # noqa: F401
