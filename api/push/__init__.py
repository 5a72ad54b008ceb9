"""Live push of warning events to WebSocket clients: one hub per API process."""
