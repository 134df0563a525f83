"""Layer modules (PyTorch's torch.nn.modules): each a thin Module over nn.functional."""
from .activation import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .instancenorm import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
# PyTorch's module paths for layers clnet defines elsewhere (torch.nn.modules.batchnorm.BatchNorm2d
# ...), so pickles and weights_only allow-lists that name them resolve
from . import batchnorm, container, flatten, padding, upsampling  # noqa: F401,E402
