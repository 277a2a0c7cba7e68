-- The events API's nested JSON, flattened to one column per field.
select
    event_id,
    cast({{ json_field('payload', ['event', 'time']) }} as {{ dbt.type_timestamp() }}) as event_time,
    {{ json_field('payload', ['event', 'type']) }} as event_type,
    {{ json_field('payload', ['device', 'id']) }} as device_id,
    {{ json_field('payload', ['device', 'os']) }} as device_os,
    {{ json_field('payload', ['user', 'id']) }} as user_id,
    {{ json_field('payload', ['user', 'corporate', 'id']) }} as corporate_id,
    {{ json_field('payload', ['user', 'corporate', 'status']) }} as corporate_status
from {{ source('events_raw', 'raw_events') }}
