"""forecast: daily closing-price forecasts with Keras GRU/LSTM networks, measured against persistence."""

__version__ = "0.1.0"
