"""The serving data plane: Django-free engines behind one interface (``protocol.Engine``).

``serving.engine.protocol``, ``errors`` and ``config`` import no ML library, so the inference process's
HTTP layer can build requests and map errors without loading a model. The backends do: import
``serving.engine.embedded`` or ``serving.engine.vllm`` only where a model is served. See README.md.
"""
