"""Many jobs from one request: X/Y/Z grids and sweeps, planned here and run on any `Backend`
(the local engine one job at a time, a Ray cluster on all its workers at once)."""
