-- Rows dropped by the cleaning layer, with the reason.
select client, member_id, first_name, last_name, date_of_birth, state, zip, reject_reason
from {{ ref('members_checked') }}
where reject_reason is not null
