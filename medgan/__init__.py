"""medgan: augment medical-imaging datasets with classic transforms and GANs, and measure the gain."""

from medgan.errors import ConfigError, DataError, MedganError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "MedganError", "__version__"]
