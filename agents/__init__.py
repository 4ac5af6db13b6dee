"""Faust agents: thin shells that decode, call the pure core in `engine`, and send the results."""
