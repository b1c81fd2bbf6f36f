"""The model shipped with galmorph: ``gz2_resnet18_cpu.pt`` (weights, int8 with float32 scales) and
``gz2_resnet18_cpu.json`` (its card, with the sha256 checked at load).

See :mod:`galmorph.models.card` and ``galmorph models --card``.
"""
