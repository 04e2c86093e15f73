"""The device simulator: behaviour models of every device class, YAML scenarios with injected incidents and
their ground truth, deterministic generation (`simulator.generate.Simulation`), pacing on a virtual clock,
MQTT publishing, record/replay, CSV import, load mode, in-process judging and scoring. See docs/simulator.md.

Importing the package imports nothing else, so `cwatch` can wire `simulator.cli` lazily."""
