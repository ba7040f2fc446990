"""Global ranking of scored rows (in memory for `score`, a range-partitioned sort on Ray for `scan`) and flagging."""
