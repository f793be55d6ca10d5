"""Running a batch: plan, engine, one job's work, polling, downloads, detach, shards, budget."""
