{% macro cents(col, scale=2) -%}
  ({{ col }} / 100)::numeric(16, {{ scale }})
{%- endmacro %}
{# c #}{% raw %}{% macro x() %}{% endraw %}
{% test even(model, column_name) %}select 1 {{ '%}' }}{% endtest %}
{% snapshot s %}{{ config(unique_key='id') }}select 1{% endsnapshot %}
{% docs d %}# é{% enddocs %}
