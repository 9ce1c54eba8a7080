"""kilowatch: electricity use and cost of industrial plants, meter by meter."""

__version__ = "0.1.0"
