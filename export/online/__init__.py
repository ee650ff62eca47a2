"""The learned online engine (Lai & Jin 2017): GRU over LNPS + kinematic channels,
trained with a DTW triplet loss and a center loss, shipped as an int8 ONNX graph."""
