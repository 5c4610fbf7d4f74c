"""Classic sparse-reward control tasks: MountainCarSparse and MiniHack navigation."""
