"""Trust: personal-data masking, explanations, robustness attacks, model cards."""
