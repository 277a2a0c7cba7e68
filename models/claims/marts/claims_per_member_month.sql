-- Claims and paid amounts per member and month of service.
select
    client,
    member_id,
    substr(service_date, 1, 7) as service_month,
    count(*) as claims,
    sum(case when claim_status = 'paid' then amount else 0 end) as paid_amount
from {{ ref('claims_valid') }}
group by client, member_id, substr(service_date, 1, 7)
