"""The output folder of one scan: its layout, storage I/O on local disk or object stores, and reading it back."""
