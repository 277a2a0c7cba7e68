-- Corporations with an event that week whose corporate status is active.
select week_start, count(distinct corporate_id) as active_corporations
from {{ ref('events_weekly') }}
where corporate_status = 'active'
group by week_start
