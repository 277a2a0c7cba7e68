-- Calls, distinct members, override rate and error rate per day.
select
    substr(calls.called_at, 1, 10) as call_date,
    count(*) as calls,
    count(distinct calls.member_id) as distinct_members,
    round(1.0 * sum(case when overrides.member_id is not null then 1 else 0 end) / count(*), 4) as override_rate,
    round(1.0 * sum(case when calls.status_code >= 400 then 1 else 0 end) / count(*), 4) as error_rate
from {{ ref('api_calls') }} calls
left join {{ source('coverage_raw', 'manual_overrides') }} overrides
    on overrides.member_id = calls.member_id
group by substr(calls.called_at, 1, 10)
