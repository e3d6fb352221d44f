"""The replay engine: targets, campaigns, judges. Pure (no Django): the CLI and benchmarks use it."""
