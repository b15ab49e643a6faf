"""Trial statistics (private modules; the public names are re-exported by mscsim.trial)."""
