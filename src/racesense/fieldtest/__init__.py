"""Field test of the reverse-hotspot sync: what it measures and how it is shown."""
