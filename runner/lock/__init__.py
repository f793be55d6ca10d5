"""The lockfile: its entries, the atomic store, the journal, merging shards."""
