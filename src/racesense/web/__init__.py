"""The HTTP API and the web UI: FastAPI on uvicorn."""
