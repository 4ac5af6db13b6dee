"""The faust app (`agents.app`) and its agents: thin shells that decode, call the pure core in
`engine.domain`, and send the results."""
