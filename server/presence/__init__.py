"""Presence: stays rebuilt from door scans, co-presence tracing, building occupancy and scan
retention (issue 19; docs/tracing.md)."""
