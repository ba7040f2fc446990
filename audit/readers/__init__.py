"""Reading caption files into a table of rows: a row id, the raw caption, a read status, passthrough columns."""

from audit.readers.local import read_captions
from audit.readers.validate import caption_status

__all__ = ["caption_status", "read_captions"]
