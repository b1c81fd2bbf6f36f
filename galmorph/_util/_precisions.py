"""The precision names, torch-free so that the command line can list them without importing
torch (``galmorph --help``); :mod:`galmorph.runtime` resolves them."""

__all__ = ["PRECISIONS", "ALIASES"]

#: Accepted precision names (after aliases are resolved); int8 is for inference only.
PRECISIONS = ("bf16", "fp16", "fp32", "int8")
#: Other spellings users give, and the name each means.
ALIASES = {"bf16": "bf16", "bfloat16": "bf16", "bf16-mixed": "bf16",
           "fp16": "fp16", "float16": "fp16", "half": "fp16", "16": "fp16", "16-mixed": "fp16",
           "fp32": "fp32", "float32": "fp32", "float": "fp32", "32": "fp32",
           "int8": "int8", "qint8": "int8"}
