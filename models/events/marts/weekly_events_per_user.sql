-- Average, maximum and minimum events per active user, per week.
with per_user as (
    select week_start, user_id, count(*) as events
    from {{ ref('events_weekly') }}
    group by week_start, user_id
)

select
    week_start,
    round(avg(events), 2) as avg_events,
    max(events) as max_events,
    min(events) as min_events
from per_user
group by week_start
