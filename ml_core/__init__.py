"""The suite's machine-learning core: plain Python, never imports Django.

Services in `apps/` call it with plain data (lists, dataclasses, paths) and get plain data back.
"""
import os

# No model hub is reachable from most servers (nor from CI): load weights from disk unless the
# operator sets HF_HUB_OFFLINE=0. Must happen before huggingface_hub is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Library download/loading bars would flood worker logs; the CLI draws its own bars.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
