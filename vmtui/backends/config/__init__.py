"""The pool config: dataclasses, the validator, the JSON Schema."""
