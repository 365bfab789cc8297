"""The networks: the network-kind registry (`kinds`), the Keras builder and trainer
(`keras_model`, the only module that imports Keras), the TensorFlow-free NumPy engine
(`engine`), the reader that checks a `.keras` archive before either engine trusts it
(`archive`), and which arithmetic a training runs in (`precision`: float32, or bfloat16 where it
is native and measured faster).

Below `forecast.store`; beside `forecast.bands`; may import `forecast.inputs`, `forecast.data`
and the root modules.
"""
