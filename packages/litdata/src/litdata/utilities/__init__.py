"""LitData's ``litdata.utilities`` import paths, kept so that LitData code imports unchanged."""
