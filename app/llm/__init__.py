"""Model access: the litellm gateway, the offline reviser, prompts, answer parsing and caches.

Import the submodules directly (app.llm.gateway, app.llm.prompts, app.llm.parsing,
app.llm.cache). None of them imports litellm at import time.
"""
