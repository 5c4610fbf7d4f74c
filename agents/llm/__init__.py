"""LLM-specific agents: LLM policies, verifier-guided search and LM trainers."""
