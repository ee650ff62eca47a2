"""Training and export side of edgesig: the only place torch is imported.

``python -m export online all`` trains the online GRU engine, evaluates it writer-
independently, exports it to ONNX, quantizes it to int8 and installs it with its
manifest entry in ``edgesig/models``. The runtime (``edgesig``) only loads the ONNX file.
"""
