"""Ray plumbing shared by the scan and the mitigation pools: connecting, sizing actor pools, actor base class."""
