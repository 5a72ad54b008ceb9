"""Pure hazard-scoring models: numpy in, levels and evidence out. No I/O here."""
