"""Safety: the filter every command passes through, and the safety node (the only publisher of safe commands)."""
