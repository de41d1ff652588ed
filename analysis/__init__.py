"""HyperLens analysis backend: hypernetwork adapters on HF encoder-decoders, and the tools to look inside them."""
import os

__version__ = "0.1.0"

# Every HyperLens process runs offline (no hub at run time), with quiet tokenizers and numba's `omp` threading layer
# (its default aborts on concurrent parallel calls, lmcinnes/umap#665). Set before transformers or numba import.
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NUMBA_THREADING_LAYER": "omp"}
for _key, _value in ENVIRONMENT.items():
    os.environ.setdefault(_key, _value)
