-- Valid member records from both clients; exact duplicates removed.
select distinct
    client, member_id, first_name, last_name, date_of_birth, state, zip, plan,
    eligibility_start, eligibility_end
from {{ ref('members_checked') }}
where reject_reason is null
