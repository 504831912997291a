"""Pure models: yield (scikit-learn), risks per hazard, alert levels and advice rules. No I/O."""
