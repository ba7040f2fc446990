"""Mitigation of flagged captions: trigger tokens, a minimal caption rewrite, an adapted prompt embedding."""
