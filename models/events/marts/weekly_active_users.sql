-- Users with at least one event in the week.
select week_start, count(distinct user_id) as active_users
from {{ ref('events_weekly') }}
group by week_start
