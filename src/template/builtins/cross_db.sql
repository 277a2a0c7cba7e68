{#- Kiln's cross-database macros, callable as `dbt.name(...)`, `kiln.name(...)` or `name(...)`.
    Each dispatches on the adapter: `<adapter>__name` when it exists, else `default__name`
    (written for PostgreSQL). Arguments are SQL expressions given as strings, as in dbt. -#}

{% macro date_trunc(datepart, date) -%}
  {{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}
{%- endmacro %}
{% macro default__date_trunc(datepart, date) -%}
  date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}
{% macro sqlite__date_trunc(datepart, date) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'day' -%} date({{ date }})
  {%- elif part == 'week' -%} date({{ date }}, '-6 days', 'weekday 1')
  {%- elif part == 'month' -%} date({{ date }}, 'start of month')
  {%- elif part == 'quarter' -%} date({{ date }}, 'start of month', '-' || ((cast(strftime('%m', {{ date }}) as integer) - 1) % 3) || ' months')
  {%- elif part == 'year' -%} date({{ date }}, 'start of year')
  {%- elif part == 'hour' -%} strftime('%Y-%m-%d %H:00:00', {{ date }})
  {%- elif part == 'minute' -%} strftime('%Y-%m-%d %H:%M:00', {{ date }})
  {%- else -%} {{ exceptions.raise_compiler_error("date_trunc: unsupported datepart '" ~ datepart ~ "' on sqlite") }}
  {%- endif -%}
{%- endmacro %}
{% macro mysql__date_trunc(datepart, date) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'day' -%} cast(date({{ date }}) as datetime)
  {%- elif part == 'week' -%} cast(date({{ date }}) - interval weekday({{ date }}) day as datetime)
  {%- elif part == 'month' -%} cast(date_format({{ date }}, '%Y-%m-01') as datetime)
  {%- elif part == 'quarter' -%} cast(makedate(year({{ date }}), 1) + interval (quarter({{ date }}) - 1) quarter as datetime)
  {%- elif part == 'year' -%} cast(date_format({{ date }}, '%Y-01-01') as datetime)
  {%- elif part == 'hour' -%} cast(date_format({{ date }}, '%Y-%m-%d %H:00:00') as datetime)
  {%- elif part == 'minute' -%} cast(date_format({{ date }}, '%Y-%m-%d %H:%i:00') as datetime)
  {%- else -%} {{ exceptions.raise_compiler_error("date_trunc: unsupported datepart '" ~ datepart ~ "' on mysql") }}
  {%- endif -%}
{%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))
{%- endmacro %}
{% macro sqlite__dateadd(datepart, interval, from_date_or_timestamp) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'week' -%} datetime({{ from_date_or_timestamp }}, ({{ interval }}) * 7 || ' days')
  {%- elif part == 'quarter' -%} datetime({{ from_date_or_timestamp }}, ({{ interval }}) * 3 || ' months')
  {%- else -%} datetime({{ from_date_or_timestamp }}, ({{ interval }}) || ' {{ part }}s')
  {%- endif -%}
{%- endmacro %}
{% macro mysql__dateadd(datepart, interval, from_date_or_timestamp) -%}
  date_add({{ from_date_or_timestamp }}, interval ({{ interval }}) {{ datepart }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}
  {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}
{% macro default__datediff(first_date, second_date, datepart) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'day' -%} (({{ second_date }})::date - ({{ first_date }})::date)
  {%- elif part == 'week' -%} floor((({{ second_date }})::date - ({{ first_date }})::date) / 7)
  {%- elif part == 'month' -%} ((date_part('year', ({{ second_date }})::date) - date_part('year', ({{ first_date }})::date)) * 12 + date_part('month', ({{ second_date }})::date) - date_part('month', ({{ first_date }})::date))
  {%- elif part == 'year' -%} (date_part('year', ({{ second_date }})::date) - date_part('year', ({{ first_date }})::date))
  {%- elif part == 'hour' -%} floor(extract(epoch from (({{ second_date }})::timestamp - ({{ first_date }})::timestamp)) / 3600)
  {%- else -%} {{ exceptions.raise_compiler_error("datediff: unsupported datepart '" ~ datepart ~ "'") }}
  {%- endif -%}
{%- endmacro %}
{% macro sqlite__datediff(first_date, second_date, datepart) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'day' -%} cast(julianday(date({{ second_date }})) - julianday(date({{ first_date }})) as integer)
  {%- elif part == 'week' -%} cast((julianday(date({{ second_date }})) - julianday(date({{ first_date }}))) / 7 as integer)
  {%- elif part == 'month' -%} ((cast(strftime('%Y', {{ second_date }}) as integer) - cast(strftime('%Y', {{ first_date }}) as integer)) * 12 + cast(strftime('%m', {{ second_date }}) as integer) - cast(strftime('%m', {{ first_date }}) as integer))
  {%- elif part == 'year' -%} (cast(strftime('%Y', {{ second_date }}) as integer) - cast(strftime('%Y', {{ first_date }}) as integer))
  {%- elif part == 'hour' -%} cast((julianday({{ second_date }}) - julianday({{ first_date }})) * 24 as integer)
  {%- else -%} {{ exceptions.raise_compiler_error("datediff: unsupported datepart '" ~ datepart ~ "' on sqlite") }}
  {%- endif -%}
{%- endmacro %}
{% macro mysql__datediff(first_date, second_date, datepart) -%}
  {#- Calendar differences, as PostgreSQL computes them (not whole elapsed months). -#}
  {%- set part = datepart | lower -%}
  {%- if part == 'day' -%} datediff(date({{ second_date }}), date({{ first_date }}))
  {%- elif part == 'week' -%} floor(datediff(date({{ second_date }}), date({{ first_date }})) / 7)
  {%- elif part == 'month' -%} ((year({{ second_date }}) - year({{ first_date }})) * 12 + month({{ second_date }}) - month({{ first_date }}))
  {%- elif part == 'year' -%} (year({{ second_date }}) - year({{ first_date }}))
  {%- else -%} timestampdiff({{ part }}, {{ first_date }}, {{ second_date }})
  {%- endif -%}
{%- endmacro %}

{% macro last_day(date, datepart) -%}
  {{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}
{%- endmacro %}
{% macro default__last_day(date, datepart) -%}
  cast(date_trunc('{{ datepart }}', {{ date }}) + interval '1 {{ datepart }}' - interval '1 day' as date)
{%- endmacro %}
{% macro sqlite__last_day(date, datepart) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'month' -%} date({{ date }}, 'start of month', '+1 month', '-1 day')
  {%- elif part == 'year' -%} date({{ date }}, 'start of year', '+1 year', '-1 day')
  {%- elif part == 'quarter' -%} date({{ sqlite__date_trunc('quarter', date) }}, '+3 months', '-1 day')
  {%- else -%} {{ exceptions.raise_compiler_error("last_day: unsupported datepart '" ~ datepart ~ "' on sqlite") }}
  {%- endif -%}
{%- endmacro %}
{% macro mysql__last_day(date, datepart) -%}
  {%- set part = datepart | lower -%}
  {%- if part == 'month' -%} last_day({{ date }})
  {%- elif part == 'year' -%} makedate(year({{ date }}) + 1, 1) - interval 1 day
  {%- elif part == 'quarter' -%} last_day(makedate(year({{ date }}), 1) + interval quarter({{ date }}) * 3 - 1 month)
  {%- else -%} {{ exceptions.raise_compiler_error("last_day: unsupported datepart '" ~ datepart ~ "' on mysql") }}
  {%- endif -%}
{%- endmacro %}

{% macro cast(field, type) -%}
  {{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}
{%- endmacro %}
{% macro default__cast(field, type) -%}
  cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro safe_cast(field, type) -%}
  {{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}
{%- endmacro %}
{% macro default__safe_cast(field, type) -%}
  cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro type_string() -%}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{%- endmacro %}
{% macro default__type_string() -%}TEXT{%- endmacro %}
{% macro sqlite__type_string() -%}text{%- endmacro %}
{% macro mysql__type_string() -%}char{%- endmacro %}

{% macro type_int() -%}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{%- endmacro %}
{% macro default__type_int() -%}INT{%- endmacro %}
{% macro mysql__type_int() -%}signed{%- endmacro %}

{% macro type_bigint() -%}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{%- endmacro %}
{% macro default__type_bigint() -%}bigint{%- endmacro %}
{% macro sqlite__type_bigint() -%}integer{%- endmacro %}
{% macro mysql__type_bigint() -%}signed{%- endmacro %}

{% macro type_numeric() -%}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{%- endmacro %}
{% macro default__type_numeric() -%}numeric(28,6){%- endmacro %}
{% macro sqlite__type_numeric() -%}numeric{%- endmacro %}
{% macro mysql__type_numeric() -%}decimal(28, 6){%- endmacro %}

{% macro type_float() -%}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{%- endmacro %}
{% macro default__type_float() -%}FLOAT{%- endmacro %}
{% macro sqlite__type_float() -%}real{%- endmacro %}
{% macro mysql__type_float() -%}double{%- endmacro %}

{% macro type_boolean() -%}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{%- endmacro %}
{% macro default__type_boolean() -%}BOOLEAN{%- endmacro %}
{% macro mysql__type_boolean() -%}unsigned{%- endmacro %}

{% macro type_timestamp() -%}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{%- endmacro %}
{% macro default__type_timestamp() -%}TIMESTAMP{%- endmacro %}
{% macro sqlite__type_timestamp() -%}text{%- endmacro %}
{% macro mysql__type_timestamp() -%}datetime{%- endmacro %}

{% macro concat(fields) -%}
  {{ return(adapter.dispatch('concat', 'dbt')(fields)) }}
{%- endmacro %}
{% macro default__concat(fields) -%}
  {{ fields | join(' || ') }}
{%- endmacro %}
{% macro mysql__concat(fields) -%}
  concat({{ fields | join(', ') }})
{%- endmacro %}

{% macro hash(field) -%}
  {{ return(adapter.dispatch('hash', 'dbt')(field)) }}
{%- endmacro %}
{% macro default__hash(field) -%}
  md5(cast({{ field }} as {{ type_string() }}))
{%- endmacro %}
{% macro sqlite__hash(field) -%}
  md5(cast({{ field }} as text))
{%- endmacro %}

{% macro current_timestamp() -%}
  {{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}
{%- endmacro %}
{% macro default__current_timestamp() -%}now(){%- endmacro %}
{% macro sqlite__current_timestamp() -%}datetime('now'){%- endmacro %}
{% macro mysql__current_timestamp() -%}current_timestamp(){%- endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) -%}
  {{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}
{%- endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) -%}
  split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}
{% macro sqlite__split_part(string_text, delimiter_text, part_number) -%}
  {#- Drop the first (n - 1) parts, then cut at the next delimiter. -#}
  {%- set s = namespace(expr=string_text) -%}
  {%- for _ in range((part_number | int) - 1) -%}
    {%- set s.expr = "(case when instr(" ~ s.expr ~ ", " ~ delimiter_text ~ ") > 0 then substr(" ~ s.expr ~ ", instr(" ~ s.expr ~ ", " ~ delimiter_text ~ ") + length(" ~ delimiter_text ~ ")) else '' end)" -%}
  {%- endfor -%}
  (case when instr({{ s.expr }}, {{ delimiter_text }}) > 0 then substr({{ s.expr }}, 1, instr({{ s.expr }}, {{ delimiter_text }}) - 1) else {{ s.expr }} end)
{%- endmacro %}
{% macro mysql__split_part(string_text, delimiter_text, part_number) -%}
  (case when {{ part_number }} > length({{ string_text }}) - length(replace({{ string_text }}, {{ delimiter_text }}, '')) + 1 then ''
   else substring_index(substring_index({{ string_text }}, {{ delimiter_text }}, {{ part_number }}), {{ delimiter_text }}, -1) end)
{%- endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
  {{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}
{%- endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %})
{%- endmacro %}
{% macro sqlite__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  group_concat({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %})
{%- endmacro %}
{% macro mysql__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
  group_concat({{ measure }}{% if order_by_clause %} {{ order_by_clause }}{% endif %} separator {{ delimiter_text }})
{%- endmacro %}

{% macro any_value(expression) -%}
  {{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__any_value(expression) -%}min({{ expression }}){%- endmacro %}

{% macro bool_or(expression) -%}
  {{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__bool_or(expression) -%}bool_or({{ expression }}){%- endmacro %}
{% macro sqlite__bool_or(expression) -%}max({{ expression }}){%- endmacro %}
{% macro mysql__bool_or(expression) -%}max({{ expression }}){%- endmacro %}

{% macro position(substring_text, string_text) -%}
  {{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}
{%- endmacro %}
{% macro default__position(substring_text, string_text) -%}position({{ substring_text }} in {{ string_text }}){%- endmacro %}
{% macro sqlite__position(substring_text, string_text) -%}instr({{ string_text }}, {{ substring_text }}){%- endmacro %}
{% macro mysql__position(substring_text, string_text) -%}locate({{ substring_text }}, {{ string_text }}){%- endmacro %}

{% macro length(expression) -%}
  {{ return(adapter.dispatch('length', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__length(expression) -%}length({{ expression }}){%- endmacro %}
{% macro mysql__length(expression) -%}char_length({{ expression }}){%- endmacro %}

{% macro replace(field, old_chars, new_chars) -%}
  {{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}
{%- endmacro %}
{% macro default__replace(field, old_chars, new_chars) -%}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){%- endmacro %}

{% macro right(string_text, length_expression) -%}
  {{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}
{%- endmacro %}
{% macro default__right(string_text, length_expression) -%}right({{ string_text }}, {{ length_expression }}){%- endmacro %}
{% macro sqlite__right(string_text, length_expression) -%}
  (case when {{ length_expression }} = 0 then '' else substr({{ string_text }}, -({{ length_expression }})) end)
{%- endmacro %}

{% macro escape_single_quotes(expression) -%}
  {{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro %}

{% macro except() -%}{{ return(adapter.dispatch('except', 'dbt')()) }}{%- endmacro %}
{% macro default__except() -%}except{%- endmacro %}

{% macro intersect() -%}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{%- endmacro %}
{% macro default__intersect() -%}intersect{%- endmacro %}
