"""The LLM layer: one interface over local and remote language-model backends."""
