"""LLM-generated reward modules: reward code, LLM-feedback intrinsic rewards, LLM subgoal judges."""
