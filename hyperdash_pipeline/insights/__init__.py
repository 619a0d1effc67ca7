"""Creative recommendations (pause / scale / keep / insufficient_data) with their statistical evidence."""
