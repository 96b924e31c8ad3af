"""`hub serve`: the catalog over HTTP, a thin layer over the library.

- `hub.server.api`: the JSON API (`/api/...`), one error shape for every endpoint, OpenAPI at
  `/openapi.json`;
- `hub.server.hf`: the subset of the Hugging Face Hub API that `huggingface_hub` and
  `datasets` use (`HF_ENDPOINT=http://host:port`);
- `hub.server.pages`: the HTML pages for people.
- `hub.server.workers`: `hub serve --workers N`, N processes each on a listening socket of its own.
"""

from hub.server.app import create_app, serve

__all__ = ["create_app", "serve"]
