-- A claim's amount is never negative.
select claim_id, amount
from {{ ref('claims_valid') }}
where amount < 0
