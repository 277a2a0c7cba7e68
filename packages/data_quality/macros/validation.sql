{# Portable validity checks used by the cleaning layers (no casts that would fail on bad data). #}

{% macro only_digits(column) -%}
  {%- set expr = namespace(text=column) -%}
  {%- for d in range(10) -%}
    {%- set expr.text = "replace(" ~ expr.text ~ ", '" ~ d ~ "', '')" -%}
  {%- endfor -%}
  ({{ column }} is not null and {{ dbt.length(column) }} > 0 and {{ expr.text }} = '')
{%- endmacro %}

{% macro is_valid_zip(column) -%}
  ({{ only_digits(column) }} and {{ dbt.length(column) }} = 5)
{%- endmacro %}

{# Upper-case codes only: MySQL compares text without case, so there the match is binary. #}
{% macro is_valid_state(column) -%}
  ({% if target.type == 'mysql' %}binary {% endif %}{{ column }} in ({% for s in var('valid_states') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{# True when `column` is a real calendar date written as YYYY-MM-DD (so 2001-11-31 is not). #}
{% macro is_valid_iso_date(column) -%}
  {%- set y = "cast(substr(" ~ column ~ ", 1, 4) as " ~ dbt.type_int() ~ ")" -%}
  {%- set m = "cast(substr(" ~ column ~ ", 6, 2) as " ~ dbt.type_int() ~ ")" -%}
  {%- set d = "cast(substr(" ~ column ~ ", 9, 2) as " ~ dbt.type_int() ~ ")" -%}
  ({{ dbt.length(column) }} = 10
   and {{ only_digits("substr(" ~ column ~ ", 1, 4)") }}
   and {{ only_digits("substr(" ~ column ~ ", 6, 2)") }}
   and {{ only_digits("substr(" ~ column ~ ", 9, 2)") }}
   and substr({{ column }}, 5, 1) = '-' and substr({{ column }}, 8, 1) = '-'
   and {{ m }} between 1 and 12
   and {{ d }} between 1 and case
       when {{ m }} in (4, 6, 9, 11) then 30
       when {{ m }} = 2 then case when ({{ y }} % 4 = 0 and {{ y }} % 100 <> 0) or {{ y }} % 400 = 0 then 29 else 28 end
       else 31 end)
{%- endmacro %}

{# MM/DD/YYYY text to YYYY-MM-DD text. #}
{% macro us_date_to_iso(column) -%}
  {{ dbt.concat(["substr(" ~ column ~ ", 7, 4)", "'-'", "substr(" ~ column ~ ", 1, 2)", "'-'", "substr(" ~ column ~ ", 4, 2)"]) }}
{%- endmacro %}
