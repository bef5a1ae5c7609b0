"""The inference process (the data plane): an ASGI app that answers the OpenAI-compatible and task-native
APIs from an engine backend, with keys, limits, routing by confidence, request logs and metrics.

Only ``manage.py serve`` imports it: the web process never does (it would load torch with the engine).
The app itself talks to the control plane through ``control.ControlPlane`` (keys, endpoint states,
request logs), so its HTTP behaviour is the same whichever database or engine stands behind it.
"""
