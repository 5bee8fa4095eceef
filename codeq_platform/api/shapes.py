"""Request and response shapes, declared once: the fast validator and the OpenAPI schema both come from them.

A shape is a class of fields::

    class ClaimBody(Shape):
        commands = Array(String(max_length=200), max_items=100)
        leaseSeconds = Integer(0, 43_200, default=300)

``ClaimBody.parse(data)`` checks decoded JSON against it and returns a plain dict of the values (absent
optional fields get their default), raising ``InvalidInput`` that names the field; ``ClaimBody.ref()`` is
the OpenAPI ``$ref`` to its component, whose JSON schema ``ClaimBody.json_schema()`` derives from the same
fields. A field's ``check`` (a function of the value) carries what a JSON schema cannot say, such as the
address rules of a callback URL; its ``message`` is the contract's text where the contract names one.

Null and the empty string: codeQ's JSON decoding leaves a field that is null at its zero value, so an
optional field that is null (and a blank optional string, date or URL) counts as absent here too, and the
schema says so (``nullable``, ``""`` allowed). A required field must be present and not null.

Parsing costs a dict lookup and a type check per field: the hot endpoints use it as they are.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from codeq_platform.errors import InvalidInput

Schema = dict[str, Any]
_components: dict[str, type[Shape]] = {}


class Field(ABC):
    """One member of a shape. Subclasses say how a present, non-null value is checked and described."""

    noun = "a value"

    def __init__(self, *, required: bool = False, default: Any = None, message: str = "", missing: str = "",
                 description: str = "", check: Callable[[Any], Any] | None = None, nullable: bool | None = None,
                 error: type[InvalidInput] = InvalidInput) -> None:  # fmt: skip
        self.name = ""
        self.required = required
        self.default = default
        self.message = message
        self.missing = missing
        self.description = description
        self.check = check
        # In a request, an optional field may be null (= absent); in a response, only where declared.
        self.nullable = nullable
        self.error = error  # the class of a value's error (the wrong JSON type is always InvalidInput)

    def invalid(self, error: type[InvalidInput] = InvalidInput) -> InvalidInput:
        return error(self.message or f"invalid '{self.name}' (must be {self.noun})", field=self.name)

    def out_of_range(self) -> InvalidInput:
        return self.invalid(self.error)

    @abstractmethod
    def convert(self, value: Any) -> Any:
        """The value, checked; raises ``InvalidInput``."""

    def parse(self, value: Any) -> Any:
        if value is None or (value == "" and self.blank_is_absent()):
            if self.required:
                raise InvalidInput(self.missing or self.message or f"'{self.name}' is required", field=self.name)
            return self.default.copy() if isinstance(self.default, list) else self.default
        value = self.convert(value)
        return self.check(value) if self.check is not None else value

    def blank_is_absent(self) -> bool:
        return False

    def from_query(self, raw: str) -> Any:
        """A query-string value (always text) as the JSON value it stands for."""
        return raw

    @abstractmethod
    def type_schema(self, request: bool) -> Schema:
        """The JSON schema of a present value."""

    def is_nullable(self, request: bool) -> bool:
        return self.nullable if self.nullable is not None else (request and not self.required)

    def json_schema(self, *, request: bool) -> Schema:
        schema = self.type_schema(request)
        if self.description:
            schema["description"] = self.description
        if self.default is not None and not callable(self.default):
            schema["default"] = self.default
        if self.is_nullable(request):
            schema = {"anyOf": [schema], "nullable": True} if "$ref" in schema else {**schema, "nullable": True}
        return schema


class Integer(Field):
    def __init__(self, low: int | None = None, high: int | None = None, *, clamp: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high, self.clamp = low, high, clamp
        if low is not None and high is not None:
            self.noun = f"an integer from {low} to {high}"
        elif low is not None:
            self.noun = f"an integer >= {low}"
        else:
            self.noun = "an integer"

    def convert(self, value: Any) -> int:
        if type(value) is not int:  # a bool is not an integer
            raise self.invalid()
        if self.clamp:
            return max(
                self.low if self.low is not None else value, min(value, self.high if self.high is not None else value)
            )
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise self.out_of_range()
        return value

    def from_query(self, raw: str) -> Any:
        return int(raw) if re.fullmatch(r"-?[0-9]{1,4300}", raw) else raw

    def type_schema(self, request: bool) -> Schema:
        schema: Schema = {"type": "integer"}
        if self.low is not None and not self.clamp:
            schema["minimum"] = self.low
        if self.high is not None and not self.clamp:
            schema["maximum"] = self.high
        return schema


class String(Field):
    noun = "a string"

    def __init__(self, *, min_length: int = 0, max_length: int | None = None, pattern: str | None = None,
                 enum: tuple[str, ...] = (), blank: bool = False, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.min_length, self.max_length, self.enum, self.blank = min_length, max_length, enum, blank
        self.pattern = re.compile(pattern) if pattern else None
        if enum:
            self.noun = "one of " + ", ".join(enum)
        elif max_length is not None:
            self.noun = f"a string of at most {max_length} characters"

    def blank_is_absent(self) -> bool:
        return self.blank

    def convert(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self.invalid()
        if len(value) < self.min_length or (self.max_length is not None and len(value) > self.max_length):
            raise self.out_of_range()
        if (self.enum and value not in self.enum) or (self.pattern and not self._matches(value)):
            raise self.out_of_range()
        return value

    def _matches(self, value: str) -> bool:
        # A JSON schema's pattern is searched for, as here; but Python's "$" also matches before a final
        # newline, which ECMA's does not, and which must never reach a key or a header.
        if self.pattern is None:
            return True
        found = self.pattern.search(value)
        return found is not None and (not self.pattern.pattern.endswith("$") or found.end() == len(value))

    def refuses_blank(self) -> bool:
        """Whether the schema of a present value leaves out the empty string."""
        return self.pattern is not None or self.min_length > 0

    def type_schema(self, request: bool) -> Schema:
        schema = self.string_schema(request)
        if self.blank and self.refuses_blank():
            return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
        return schema

    def string_schema(self, request: bool) -> Schema:
        schema: Schema = {"type": "string"}
        if self.enum:
            # OpenAPI 3.0: an enum lists null itself when the field may be null
            schema["enum"] = [*self.enum, *([""] if self.blank else []), *([None] if self.is_nullable(request) else [])]
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern.pattern
        return schema


class Text(String):
    """A string with an OpenAPI ``format`` (uri, date-time, uuid, byte); ``blank=True``: the empty string
    counts as absent, as codeQ's empty strings do."""

    def __init__(self, format: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.format = format

    def refuses_blank(self) -> bool:
        return True

    def string_schema(self, request: bool) -> Schema:
        return {**super().string_schema(request), "format": self.format}


class DateTime(Text):
    """An RFC 3339 moment with an offset; parsed to Unix milliseconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("date-time", **kwargs)

    def convert(self, value: Any) -> int:
        text = super().convert(value)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise self.invalid() from None
        if parsed.tzinfo is None or "T" not in text.upper():
            raise self.invalid()
        return int(parsed.timestamp() * 1000)


class Boolean(Field):
    noun = "true or false"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.invalid()
        return value

    def type_schema(self, request: bool) -> Schema:
        return {"type": "boolean"}


class Json(Field):
    """Any JSON value; required ones may not be null."""

    noun = "JSON"

    def convert(self, value: Any) -> Any:
        return value

    def type_schema(self, request: bool) -> Schema:
        if self.required:
            return {"anyOf": [{"type": kind} for kind in ("object", "array", "string", "number", "boolean")]}
        return {}


class Object(Field):
    """A JSON object: free-form, or of a shape (``Object(TaskShape)``)."""

    noun = "an object"

    def __init__(self, shape: type[Shape] | None = None, *, values: Field | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape, self.values = shape, values

    def convert(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise self.invalid()
        return self.shape.parse(value) if self.shape is not None else value

    def type_schema(self, request: bool) -> Schema:
        if self.shape is not None:
            return self.shape.ref()
        schema: Schema = {"type": "object"}
        if self.values is not None:
            schema["additionalProperties"] = self.values.json_schema(request=False)
        return schema


class Array(Field):
    def __init__(self, items: Field, *, min_items: int = 0, max_items: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items, self.min_items, self.max_items = items, min_items, max_items
        items.name = "items"
        self.noun = f"a list of at most {max_items} items" if max_items is not None else "a list"

    def convert(self, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.invalid()
        if self.max_items is not None and len(value) > self.max_items:
            raise self.invalid()
        try:
            # A null item is not an absent one: the item's type decides whether it may be null.
            return [self.items.parse(item) if item is not None else self.items.convert(item) for item in value]
        except InvalidInput as exc:
            # An object item's error says what is wrong with it; a plain item's, the list's message.
            message = exc.message if isinstance(self.items, Object) and not self.message else None
            raise (InvalidInput(message, field=self.name) if message else self.invalid(type(exc))) from None

    def type_schema(self, request: bool) -> Schema:
        schema: Schema = {"type": "array", "items": self.items.json_schema(request=False)}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


class Shape:
    """A named set of fields: a request body, a query string or a response body (see the module's doc)."""

    fields: ClassVar[dict[str, Field]] = {}
    request: ClassVar[bool] = True  # False for a response's shape: optional fields are then absent, not null
    strict: ClassVar[bool] = False  # an unknown field is a malformed body (progress, schedules)
    strict_message: ClassVar[str] = ""  # the message for an unknown field of a strict shape
    # What the schema must say of a rule across fields that the shape's function checks (a JSON schema,
    # merged into the component): so that a request the schema allows is one the server accepts.
    rules: ClassVar[Schema] = {}
    field_message: ClassVar[str] = ""  # a format ("{name}", "{noun}") for fields without a message

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.fields = {**cls.fields}
        for name, value in list(vars(cls).items()):
            if isinstance(value, Field):
                value.name = name
                if cls.field_message and not value.message:
                    value.message = cls.field_message.format(name=name, noun=value.noun)
                cls.fields[name] = value
        _components[cls.__name__] = cls

    @classmethod
    def parse(cls, data: Any) -> dict[str, Any]:
        """The values of a decoded JSON body; raises ``InvalidInput``."""
        if not isinstance(data, dict):
            raise InvalidInput("invalid body")
        if cls.strict:
            unknown = sorted(set(data) - set(cls.fields))
            if unknown:
                if cls.strict_message:
                    raise InvalidInput(cls.strict_message, field=next(iter(cls.fields)))
                raise InvalidInput(f"invalid body: unknown field '{unknown[0]}'", field=unknown[0])
        return {name: field.parse(data.get(name)) for name, field in cls.fields.items()}

    @classmethod
    def parse_query(cls, query: Mapping[str, str]) -> dict[str, Any]:
        """The values of a query string (``request.GET``); a repeated name counts once (its last value)."""
        out = {}
        for name, field in cls.fields.items():
            raw = query.get(name)
            out[name] = field.parse(field.from_query(raw) if raw not in (None, "") else None)
        return out

    @classmethod
    def json_schema(cls) -> Schema:
        schema: Schema = {
            "type": "object",
            "properties": {name: field.json_schema(request=cls.request) for name, field in cls.fields.items()},
        }
        required = [name for name, field in cls.fields.items() if field.required]
        if required:
            schema["required"] = required
        if cls.strict:
            schema["additionalProperties"] = False
        schema.update(cls.rules)
        if cls.__doc__:
            schema["description"] = " ".join(cls.__doc__.split())
        return schema

    @classmethod
    def required(cls) -> bool:
        """Whether a request needs a body of this shape (an empty one is ``{}``)."""
        return any(field.required for field in cls.fields.values())

    @classmethod
    def ref(cls) -> Schema:
        """A reference to the shape's component (``add_components`` puts it in the document)."""
        return {"$ref": f"#/components/schemas/{cls.__name__}"}

    @classmethod
    def parameters(cls) -> list[Schema]:
        """The shape as OpenAPI query parameters."""
        return [{"name": name, "in": "query", "required": field.required, "schema": field.json_schema(request=False),
                 **({"description": field.description} if field.description else {})}
                for name, field in cls.fields.items()]  # fmt: skip


class Reply(Shape):
    """A response's shape: it documents what a view renders (the tests check real answers against it)."""

    request = False


def named(name: str) -> type[Shape] | None:
    return _components.get(name)


def add_components(schema: Schema) -> Schema:
    """drf-spectacular post-processing hook: the component of every shape the document refers to."""
    found = schema.setdefault("components", {}).setdefault("schemas", {})
    pending = set(re.findall(r"#/components/schemas/(\w+)", repr(schema["paths"])))
    while pending:
        name = pending.pop()
        if name in found or name not in _components:
            continue
        found[name] = _components[name].json_schema()
        pending |= set(re.findall(r"#/components/schemas/(\w+)", repr(found[name])))
    schema["components"]["schemas"] = dict(sorted(found.items()))
    return schema
