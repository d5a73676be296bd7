"""Loss functions of every system, each written after its paper's equations."""
