"""Risk-point registry, regions, rasters and vectors. Opens data; never talks to Kafka."""
