"""JSON Schemas of the versioned outputs, shipped with the package (`deepseek-probe schema`)."""
