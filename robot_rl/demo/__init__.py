"""A small demonstration graph: a sim clock, a joint-state source and a monitor."""
