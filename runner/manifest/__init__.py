"""From a manifest file to resolved, validated jobs.

YAML, loading, resolution, templates, local inputs, checks, operations, output names."""
