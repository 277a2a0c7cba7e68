{# Reads a field of a JSON text column by path (e.g. ['user', 'corporate', 'status']),
   dispatched per adapter like Kiln's built-in cross-database macros. #}
{% macro json_field(column, path) -%}
  {{ return(adapter.dispatch('json_field')(column, path)) }}
{%- endmacro %}

{% macro default__json_field(column, path) -%}
  (cast({{ column }} as json) #>> '{ {{- path | join(',') -}} }')
{%- endmacro %}

{% macro sqlite__json_field(column, path) -%}
  json_extract({{ column }}, '$.{{ path | join('.') }}')
{%- endmacro %}

{% macro mysql__json_field(column, path) -%}
  json_unquote(json_extract({{ column }}, '$.{{ path | join('.') }}'))
{%- endmacro %}
