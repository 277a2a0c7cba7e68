-- Events with the Monday of their week.
select
    stg_events.*,
    substr(cast({{ dbt.date_trunc('week', 'event_time') }} as {{ dbt.type_string() }}), 1, 10) as week_start
from {{ ref('stg_events') }}
