"""Language reasoning environments: multi-step problems solved one step per action."""
