-- Each member's latest record, with the end of eligibility and the status on `as_of_date`.
with ranked as (
    select
        members_clean.*,
        row_number() over (partition by client, member_id order by eligibility_end desc) as record_rank
    from {{ ref('members_clean') }}
)

select
    client,
    member_id,
    first_name,
    last_name,
    date_of_birth,
    state,
    zip,
    plan,
    eligibility_start,
    eligibility_end as end_of_eligibility,
    case when eligibility_end >= '{{ var("as_of_date") }}' then 'active' else 'terminated' end as member_status
from ranked
where record_rank = 1
