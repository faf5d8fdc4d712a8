"""The control plane HTTP API: see ``app.py`` for the route table."""
