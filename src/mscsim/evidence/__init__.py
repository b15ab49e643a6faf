"""Clinical evidence: the published controlled MSC-COVID-19 studies and a meta-analysis
engine validated against R's metafor. Independent of the model."""
