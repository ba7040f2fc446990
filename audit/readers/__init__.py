"""Input files to caption rows: expanding inputs into files, one reader per format, one dispatcher for all."""
