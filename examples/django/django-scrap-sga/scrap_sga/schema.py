"""The OpenAPI schema of the mirror's endpoints: drf-spectacular's, with selection choices as one
enum component per model and field (``ScrapDimagazBcStateEnum``).

drf-spectacular names an enum after its field alone and warns when one name has several choice
sets, as Odoo's ``state`` fields do on almost every model: the schema would carry names with
hashes in them, and fail ``spectacular --fail-on-warn``. A name per model and field is stable
whatever else is mirrored.
"""
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, append_meta, build_choice_description_list
from rest_framework import serializers

from .mirror import MirrorModel


class MirrorSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        model = getattr(getattr(field.parent, "Meta", None), "model", None)
        if (
            isinstance(field, serializers.ChoiceField) and not isinstance(field, serializers.MultipleChoiceField)
            and isinstance(model, type) and issubclass(model, MirrorModel)
        ):
            name = model.__name__ + "".join(part.capitalize() for part in field.field_name.split("_")) + "Enum"
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema={
                "type": "string",
                "enum": [value for value in field.choices if value not in ("", None)],
                "description": build_choice_description_list(field.choices.items()),
            })
            self.registry.register_on_missing(component)
            return append_meta(dict(component.ref), self._get_serializer_field_meta(field, direction))
        return super()._map_serializer_field(field, direction, bypass_extensions)
