-- Average, maximum and minimum events per corporation, per week.
with per_corporation as (
    select week_start, corporate_id, count(*) as events
    from {{ ref('events_weekly') }}
    group by week_start, corporate_id
)

select
    week_start,
    round(avg(events), 2) as avg_events,
    max(events) as max_events,
    min(events) as min_events
from per_corporation
group by week_start
