"""One small module (or a few, for a large format) per log format; each is listed once in ``logs.registry``."""
