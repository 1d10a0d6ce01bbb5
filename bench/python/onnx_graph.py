"""What the peer reads from the ONNX graph itself, without the onnx package: the categories of every
OneHotEncoder (ai.onnx.ml) by the graph input it encodes, and the classifier's class labels. A
minimal walk over the protobuf wire format of ModelProto (onnx/onnx.proto field numbers)."""

from typing import Iterator, Tuple

# ModelProto.graph = 7; GraphProto.node = 1; NodeProto: input = 1, op_type = 4, attribute = 5;
# AttributeProto: name = 1, ints = 8, strings = 9.


def _varint(data: bytes, at: int) -> Tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value): bytes for length-delimited fields, int for varints."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def read_graph(path: str) -> Tuple[dict, list]:
    """({graph input name: set of categories}, class labels as text)."""
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for n, w, v in _fields(model) if n == 7)
    categories: dict = {}
    classes: list = []
    for number, _, node in _fields(graph):
        if number != 1:
            continue
        inputs, op, attributes = [], "", []
        for n, _, v in _fields(node):
            if n == 1:
                inputs.append(v.decode())
            elif n == 4:
                op = v.decode()
            elif n == 5:
                attributes.append(v)
        for attribute in attributes:
            name, ints, strings = "", [], []
            for n, w, v in _fields(attribute):
                if n == 1:
                    name = v.decode()
                elif n == 8 and w == 0:
                    ints.append(_signed(v))
                elif n == 8 and w == 2:  # packed
                    at = 0
                    while at < len(v):
                        i, at = _varint(v, at)
                        ints.append(_signed(i))
                elif n == 9:
                    strings.append(v.decode())
            if op == "OneHotEncoder" and name == "cats_strings":
                categories[inputs[0]] = set(strings)
            elif op.startswith("TreeEnsembleClassifier") or op in ("LinearClassifier", "SVMClassifier"):
                if name == "classlabels_int64s":
                    classes = [str(i) for i in ints]
                elif name == "classlabels_strings":
                    classes = strings
    return categories, classes
