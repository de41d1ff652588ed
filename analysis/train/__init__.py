"""Training (the loop, its health monitor, the shipped recipes) and evaluation."""
