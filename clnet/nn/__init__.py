"""Neural-network building blocks: Parameter, Module and layers, functional forms, init, losses."""
from .parameter import Parameter
