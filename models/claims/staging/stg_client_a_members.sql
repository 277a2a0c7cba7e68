-- Client A sends member files with `member_` prefixes and US dates (MM/DD/YYYY).
select
    'client_a' as client,
    member_id,
    member_first_name as first_name,
    member_last_name as last_name,
    {{ data_quality.us_date_to_iso('member_dob') }} as date_of_birth,
    member_state as state,
    member_zip as zip,
    upper(plan) as plan,
    {{ data_quality.us_date_to_iso('eligibility_start') }} as eligibility_start,
    {{ data_quality.us_date_to_iso('eligibility_end') }} as eligibility_end
from {{ source('claims_raw', 'client_a_members') }}
