"""I/O and grids: read and validate inputs, write COGs atomically, STAC, the demo-region generator."""
