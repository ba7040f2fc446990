"""The distributed `scan`: sharded inputs read, scored on a Ray actor pool, written per shard, then ranked."""
