"""Dataset-wide dedup: key every row (keying), score each distinct key once (distinct), give every row its key's
numbers and count (fill). Each phase keeps its finished work in the run folder, so a killed scan resumes."""
