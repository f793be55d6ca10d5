"""vidbatch: a declarative batch runner for asynchronous video-generation APIs."""

__version__ = "0.1.0"
