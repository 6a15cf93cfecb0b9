"""Alerts, as plain Python: what each alert says (alert.py), which events raise one and how
they are worded (sources.py), whether a failed run is final (runs.py), which repeats are held
back and summarised (suppression.py), and the bytes each carrier takes (messages.py).

Delivery and the state file are in ``services/alerts``; the sensors in ``defs/alerts.py``.
"""
