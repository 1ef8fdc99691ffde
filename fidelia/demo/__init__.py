"""The demo shop and the traffic simulator: a virtual store to show and test the whole loop."""
