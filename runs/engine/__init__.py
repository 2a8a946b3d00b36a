"""The run engine: a graph executor in plain Python, with no Django imports.

It receives a graph, the recorded state of a run's steps and a context; it decides which nodes are
ready, runs them through their node types, and reports results. Everything with a side effect
goes through the context, so the engine can be tested without a database or a network.
"""
