"""FastAPI app: REST and WebSocket push over the warning store (``api.app.create_app``)."""
