"""`alden serve`: a local web page for labeling a project (see ``app``, ``security``, ``jobs``).

Nothing here is imported by the other commands: the web dependencies (FastAPI, uvicorn,
Jinja2) are needed only to serve.
"""
