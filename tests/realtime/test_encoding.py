"""realtime.broadcast.encode_frame: fields given already encoded make the same JSON object as
the frame encoded whole (the hello and presence frames carry a crowded room's online list
this way, encoded once)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from realtime.broadcast import encode_frame, encode_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    frame=st.dictionaries(st.text(), json_values, max_size=5),
    extra=st.dictionaries(st.text(), json_values, max_size=3),
)
def test_pre_encoded_fields_decode_as_if_encoded_with_the_frame(frame, extra):
    frame = {k: v for k, v in frame.items() if k not in extra}
    text = encode_frame(frame, {name: encode_json(value) for name, value in extra.items()})
    assert json.loads(text) == {**frame, **extra}
    if not extra:
        assert text == encode_json(frame)
