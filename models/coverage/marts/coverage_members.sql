-- One row per member: the latest successful API answer, with manual overrides applied.
with latest as (
    select
        member_id,
        eligibility,
        called_at,
        row_number() over (partition by member_id order by called_at desc) as call_rank
    from {{ ref('api_calls') }}
    where status_code = 200
)

select
    latest.member_id,
    latest.eligibility as api_eligibility,
    overrides.override_eligibility,
    coalesce(overrides.override_eligibility, latest.eligibility) as eligibility,
    case when overrides.member_id is not null then 1 else 0 end as is_overridden,
    latest.called_at as last_checked_at
from latest
left join {{ source('coverage_raw', 'manual_overrides') }} overrides
    on overrides.member_id = latest.member_id
where latest.call_rank = 1
