-- Claims of known, valid members (claims of rejected members are left out).
select
    c.claim_id,
    c.client,
    c.member_id,
    c.service_date,
    cast(c.amount as {{ dbt.type_numeric() }}) as amount,
    c.claim_status
from {{ source('claims_raw', 'claims') }} c
join {{ ref('members_latest') }} m
    on m.client = c.client and m.member_id = c.member_id
